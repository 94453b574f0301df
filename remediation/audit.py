"""Audit a local checkout: read the tree, run the shared discovery code, optionally write."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional

from remediation import atomic
from remediation.discovery import AuditResult, Finding, Hints, audit_files, validate
from remediation.discovery.classify import kind_of
from remediation.discovery.model import FindingCode
from remediation.model import Target

MAX_BYTES = 1024 * 1024
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox",
             ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".idea",
             ".eggs"}


class WriteError(Exception):
    """A patched file could not be written safely."""


def read_tree(root: Path, large: Optional[list[int]] = None) -> tuple[dict[str, bytes], list[Finding]]:
    """Files under root as bytes, keyed by POSIX relative path, plus findings for skipped ones.
    Large files with data-like names are only counted in `large[0]`."""
    large = large if large is not None else [0]
    files: dict[str, bytes] = {}
    findings: list[Finding] = []
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            full = here / name
            if name in SKIP_DIRS or (full / "pyvenv.cfg").exists():
                continue
            if full.is_symlink():
                _symlink_finding(root, full, findings)
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                _symlink_finding(root, full, findings)
                continue
            try:
                size = full.stat().st_size
            except OSError as exc:
                findings.append(Finding(rel, None, "worker_class", None, None, "report",
                                        f"cannot read: {exc.strerror}", code=FindingCode.UNREADABLE))
                continue
            if size > MAX_BYTES:
                if kind_of(rel, "") is not None:  # a config-like name: say so
                    findings.append(Finding(rel, None, "worker_class", None, None, "report",
                                            f"not scanned: {size} bytes is larger than 1 MB"))
                else:
                    large[0] += 1  # fixtures, dumps, media: counted in one line
                continue
            try:
                files[rel] = full.read_bytes()
            except OSError as exc:
                findings.append(Finding(rel, None, "worker_class", None, None, "report",
                                        f"cannot read: {exc.strerror}", code=FindingCode.UNREADABLE))
    return files, findings


def _symlink_finding(root: Path, link: Path, findings: list[Finding]) -> None:
    """Links that leave the tree are reported; links inside it are read at their target."""
    target = link.resolve()
    rel = link.relative_to(root).as_posix()
    if target != root and root not in target.parents:
        findings.append(Finding(rel, None, "worker_class", None, None, "report",
                                f"symlink to {os.readlink(link)} points outside the tree: not followed"))


def write_atomic(path: Path, text: str, expected_old: bytes) -> None:
    """Replace a file atomically, keeping its mode; refuse if it changed since it was read."""
    current = path.read_bytes()
    if current != expected_old:
        raise WriteError(f"{path} changed since it was read")
    atomic.write_atomic(path, text.encode("utf-8"), stat.S_IMODE(path.stat().st_mode))


def audit_path(root: Path, target: Target, write: bool = False,
               hints: Optional[Hints] = None) -> AuditResult:
    """Scan a checkout; with write=True apply the patches in place, atomically."""
    root = Path(root)
    large = [0]
    files, skipped = read_tree(root, large)
    result = audit_files(files, target, hints)
    result.findings = skipped + result.findings
    result.skipped["large"] = large[0]
    if write:
        for rel, text in sorted(result.patched.items()):
            problem = validate.check_patched(result, rel)
            if problem:
                result.findings.append(Finding(rel, None, "worker_class", None, None, "report",
                                               f"not written: the patched file does not parse ({problem})"))
                continue
            try:
                write_atomic(root / rel, text, files[rel])
            except (OSError, WriteError) as exc:
                result.findings.append(Finding(rel, None, "worker_class", None, None, "report",
                                               f"not written: {exc}"))
    return result
