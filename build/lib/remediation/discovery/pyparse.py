"""Parsed Python files with node positions, and module-name resolution inside a tree."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Mapping, Optional

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from remediation.discovery.sources.base import LineIndex


@dataclass
class ParsedPy:
    """A Python file parsed by libcst, with character offsets for every node."""

    path: str
    text: str
    module: cst.Module
    positions: Mapping[cst.CSTNode, CodeRange]
    lines: LineIndex

    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        rng = self.positions[node]
        starts = self.lines.starts
        return starts[rng.start.line - 1] + rng.start.column, starts[rng.end.line - 1] + rng.end.column

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def code(self, node: cst.CSTNode) -> str:
        start, end = self.span(node)
        return self.text[start:end]


def parse_python(path: str, text: str) -> ParsedPy:
    """Parse with libcst; raises libcst.ParserSyntaxError on invalid code."""
    wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    return ParsedPy(path, text, wrapper.module, positions, LineIndex(text))


def module_name_of(path: str) -> list[str]:
    """Dotted names a file may be imported as (the sys.path root is unknown)."""
    stem = path[:-3] if path.endswith(".py") else path
    if stem.endswith("/__init__"):
        stem = stem[: -len("/__init__")]
    parts = stem.split("/")
    return [".".join(parts[i:]) for i in range(len(parts))]


class ModuleIndex:
    """Find the file of a module name in the tree by its path suffix."""

    def __init__(self, paths: list[str]) -> None:
        self.by_suffix: dict[str, list[str]] = {}
        for path in paths:
            if path.endswith(".py"):
                for name in module_name_of(path):
                    self.by_suffix.setdefault(name, []).append(path)

    def find(self, dotted: str, importer: Optional[str] = None, level: int = 0) -> Optional[str]:
        """The file for `dotted` (absolute, or relative to `importer` with `level` dots)."""
        if level:
            if importer is None:
                return None
            package = posixpath.dirname(importer)
            for _ in range(level - 1):
                package = posixpath.dirname(package)
            base = posixpath.join(package, dotted.replace(".", "/")) if dotted else package
            for candidate in (base + ".py", base + "/__init__.py"):
                if candidate in self._all():
                    return candidate
            return None
        matches = self.by_suffix.get(dotted, [])
        if len(matches) == 1:
            return matches[0]
        if importer and matches:
            # Prefer the candidate sharing the longest directory prefix with the importer.
            return max(matches, key=lambda m: len(posixpath.commonprefix([m, importer])))
        return None

    def _all(self) -> set[str]:
        if not hasattr(self, "_paths"):
            self._paths = {p for ps in self.by_suffix.values() for p in ps}
        return self._paths
