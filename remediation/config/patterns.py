"""Ansible host patterns (`--limit`): names, groups, globs, `~regex`, subscripts `web[0]`,
`web[1:3]`, unions `a:b` / `a,b`, intersections `a:&b`, exclusions `a:!b`, and `@file`
(one pattern a line, e.g. a .retry file). Pure: works on names only.

As in Ansible: unions first, then intersections, then exclusions; a pattern of only `&`/`!`
terms starts from `all`; a term matches groups first, and hosts too when it names no group
or is a glob or regex."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Callable

from remediation.errors import InputError

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def split(pattern: str) -> list[str]:
    pattern = pattern.strip()
    parts = pattern.split(",") if "," in pattern else _TERMS.findall(pattern)
    return [p.strip() for p in parts if p.strip(" :")]


def order(terms: list[str]) -> list[str]:
    regular = [t for t in terms if t[0] not in "!&"] or ["all"]
    return regular + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]


def read_limit_files(terms: list[str]) -> list[str]:
    """`@path` terms replaced by the lines of that file (Ansible's --limit @file)."""
    out: list[str] = []
    for term in terms:
        if term.startswith("@"):
            path = Path(term[1:]).expanduser()
            if not path.is_file():
                raise InputError("limit file not found" if not path.exists() else "a limit file must be a file",
                                 str(path))
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read the limit file: {exc}", str(path)) from None
            out += [line.strip() for line in text.split("\n") if line.strip()]
        else:
            out.append(term)
    return out


class Matcher:
    """Evaluates patterns over host names (in inventory order) and groups (name -> its hosts)."""

    def __init__(self, hosts: list[str], groups: dict[str, list[str]]):
        self.hosts, self.groups = hosts, groups

    def select(self, pattern: str, strict: bool = True) -> list[str]:
        terms = read_limit_files(split(pattern))
        if not terms:
            raise InputError(f"empty host pattern {pattern!r}")
        selected: list[str] = []
        for term in order(terms):
            if term in self.hosts and term[0] not in "!&":
                if term not in selected:
                    selected.append(term)
                continue
            matched = self._one(term, strict)
            if term[0] == "!":
                drop = set(matched)
                selected = [h for h in selected if h not in drop]
            elif term[0] == "&":
                keep = set(matched)
                selected = [h for h in selected if h in keep]
            else:
                for h in matched:
                    if h not in selected:
                        selected.append(h)
        return selected

    def _one(self, term: str, strict: bool) -> list[str]:
        name = term[1:] if term[0] in "!&" else term
        if not name:
            raise InputError(f"empty host pattern term {term!r}")
        expr, subscript = name, None
        if name[0] != "~":
            m = _SUBSCRIPT.match(name)
            if m:
                expr, index, start, _sep, end = m.groups()
                subscript = (int(index), None) if index is not None else (int(start), int(end) if end else -1)
        found = self._enumerate(expr)
        if not found and strict and expr != "all":
            raise InputError(f"no host or group named {expr!r}" if expr[0] != "~" and not _is_glob(expr)
                             else f"pattern term {expr!r} matches no host or group")
        if subscript is None or not found:
            return found
        first, last = subscript
        try:
            if last is None:
                return [found[first]]
            last = len(found) - 1 if last == -1 else last
            return found[first:last + 1]
        except IndexError:
            raise InputError(f"no host at position {first} of {expr!r} ({len(found)} host(s))") from None

    def _enumerate(self, expr: str) -> list[str]:
        rx = _compile(expr)
        results: list[str] = []
        groups = [g for g in self.groups if rx.match(g)]
        for g in groups:
            results += self.groups[g]
        if not groups or expr[0] == "~" or _is_glob(expr):
            results += [h for h in self.hosts if rx.match(h)]
        return results  # duplicates kept, as Ansible's subscripts see them


def _is_glob(expr: str) -> bool:
    return any(ch in expr for ch in ".?*[")


def _compile(expr: str) -> re.Pattern:
    try:
        return re.compile(expr[1:] if expr[0] == "~" else fnmatch.translate(expr))
    except re.error as exc:
        raise InputError(f"invalid host pattern {expr!r}: {exc}") from None


def matcher(hosts: list[str], group_hosts: Callable[[str], list[str]], group_names: list[str]) -> Matcher:
    return Matcher(hosts, {g: group_hosts(g) for g in group_names})
