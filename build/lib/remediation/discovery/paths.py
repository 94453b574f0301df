"""Resolve paths written in commands (often container or host paths) to files in the tree."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass
class Match:
    path: Optional[str]
    certain: bool = True
    reason: str = ""


class PathIndex:
    """Tree paths indexed by basename, for suffix matching."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = set(paths)
        self.by_name: dict[str, list[str]] = {}
        for path in self.paths:
            self.by_name.setdefault(posixpath.basename(path), []).append(path)
        self.dirs = {posixpath.dirname(p) for p in self.paths}

    def match(self, written: str, bases: list[str], near: list[str]) -> Match:
        """A written path -> tree file.

        bases: tree directories a relative path is tried against, first hit wins.
        near: directories where a bare-basename match is trusted.
        """
        written = written.strip()
        if not written:
            return Match(None, reason="empty path")
        if not written.startswith("/"):
            for base in bases:
                candidate = posixpath.normpath(posixpath.join(base, written)) if base else posixpath.normpath(written)
                if candidate in self.paths:
                    return Match(candidate)
        parts = [p for p in posixpath.normpath(written).split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            return Match(None, reason=f"{written} is outside the tree")
        for k in range(len(parts)):
            suffix = "/".join(parts[k:])
            hits = [p for p in self.by_name.get(parts[-1], []) if p == suffix or p.endswith("/" + suffix)]
            if not hits:
                continue
            if len(parts) - k >= 2:
                if len(hits) == 1:
                    return Match(hits[0])
                return Match(None, reason=f"{written} matches several files: {', '.join(sorted(hits))}")
            trusted = [h for h in hits if posixpath.dirname(h) in near]
            if len(trusted) == 1:
                return Match(trusted[0])
            if len(hits) == 1:
                return Match(hits[0], certain=False, reason=f"{written} taken to be {hits[0]}")
            return Match(None, reason=f"{written} matches several files: {', '.join(sorted(hits))}")
        return Match(None, reason=f"{written} is not in the tree")

    def directory(self, written: Optional[str]) -> Optional[str]:
        """A written directory (cwd) -> tree directory, by suffix."""
        if written is None:
            return None
        parts = [p for p in posixpath.normpath(written).split("/") if p not in ("", ".")]
        if not written.startswith("/"):
            joined = "/".join(parts)
            return joined if joined in self.dirs or not joined else None
        for k in range(len(parts)):
            suffix = "/".join(parts[k:])
            hits = [d for d in self.dirs if d == suffix or d.endswith("/" + suffix)]
            if len(hits) == 1:
                return hits[0]
        return ""  # an absolute directory with no match: assume the tree root (e.g. /app)
