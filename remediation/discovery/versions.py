"""Pinned or minimum versions of Django and dj-database-url from requirement files."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Mapping, Optional

from remediation.versions import release

NAMES = {"django": "django", "dj-database-url": "dj-database-url", "dj_database_url": "dj-database-url"}


@dataclass
class Versions:
    """Lower and upper bounds found for each package (None: not found)."""

    lower: dict[str, tuple[int, ...]]
    upper: dict[str, tuple[int, ...]]

    def pin_installed(self, installed: Mapping[str, str]) -> None:
        """What is installed where the app runs beats what requirement files allow."""
        for name, text in installed.items():
            canonical = NAMES.get(name.lower().replace("_", "-")) or NAMES.get(name.lower())
            version = _version(text) if text else None
            if canonical and version:
                self.lower[canonical] = self.upper[canonical] = version

    def at_least(self, package: str, version: tuple[int, ...]) -> Optional[bool]:
        if package in self.lower:
            return self.lower[package] >= version
        if package in self.upper and self.upper[package] < version:
            return False
        return None


def is_requirements(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return (name.startswith("requirements") and name.endswith((".txt", ".in"))) or (
        "/requirements/" in f"/{path}" and name.endswith((".txt", ".in"))
    ) or name in ("pyproject.toml", "pipfile", "setup.cfg")


def _version(text: str) -> Optional[tuple[int, ...]]:
    return release(text)  # one parser (remediation/versions.py): "==3.2b2" is 3.2, "4.2.*" is 4.2


def scan(files: Mapping[str, str]) -> Versions:
    versions = Versions({}, {})
    for path, text in files.items():
        if not is_requirements(path):
            continue
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip().strip("\"',")
            lowered = line.lower()
            for name, canonical in NAMES.items():
                if not lowered.startswith(name):
                    continue
                rest = lowered[len(name):].lstrip()
                if rest[:1] not in ("=", ">", "<", "~", "^", "[", " ", "!") and rest:
                    continue
                if rest.startswith("["):
                    rest = rest.split("]", 1)[-1]
                rest = rest.lstrip(" =").lstrip("\"'") if rest.startswith("= ") or rest.startswith("=\"") else rest
                for spec in rest.split(","):
                    spec = spec.strip().strip("\"'")
                    version = _version(spec)
                    if version is None:
                        continue
                    if spec.startswith(("==", "~=", ">=", "^", ">")) or spec[:1].isdigit():
                        versions.lower[canonical] = version
                    if spec.startswith(("==", "<")) or spec[:1].isdigit():
                        versions.upper[canonical] = version
    return versions
