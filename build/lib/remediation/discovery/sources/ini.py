"""A small ini reader that keeps the file offset of every value character.

configparser gives values but no positions; this reader follows configparser's rules for the
files we read (sections, `key = value` / `key: value`, indented continuation lines, full-line
and whitespace-preceded inline comments) and is cross-checked against configparser.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from typing import Optional

from remediation.discovery.words import Mapped


@dataclass
class IniEntry:
    section: str
    key: str
    value: Mapped
    offset: int  # start of the key's line


def _strip_inline_comment(line: str, prefixes: tuple[str, ...]) -> str:
    for k in range(1, len(line)):
        if line[k] in prefixes and line[k - 1].isspace():
            return line[:k]
    return line


def _concat(parts: list[Mapped]) -> Mapped:
    text = "".join(p.text for p in parts)
    offsets: list[int] = []
    for p in parts:
        offsets.extend(p.offsets)
    return Mapped(text, offsets, parts[-1].end if parts else 0)


def read_ini(
    text: str,
    comment_prefixes: tuple[str, ...] = ("#", ";"),
    inline_prefixes: tuple[str, ...] = (";", "#"),
    continuation: str = "indent",
) -> list[IniEntry]:
    """All entries in file order (duplicates kept). continuation: 'indent' or 'backslash'."""
    entries: list[IniEntry] = []
    section = ""
    current: Optional[tuple[str, int, list[Mapped]]] = None
    pos = 0

    def flush() -> None:
        nonlocal current
        if current is not None:
            key, offset, parts = current
            while parts and not parts[-1].text.strip("\n"):
                parts.pop()
            if parts and parts[-1].text.endswith("\n"):
                last = parts[-1]
                parts[-1] = last.sub(0, len(last.text) - 1)
            entries.append(IniEntry(section, key, _concat(parts) if parts else Mapped("", (), offset), offset))
        current = None

    lines = text.splitlines(keepends=True)
    for raw in lines:
        body = raw.rstrip("\r\n")
        start = pos
        pos += len(raw)
        stripped = body.strip()
        if current is not None and continuation == "indent" and body[:1] in (" ", "\t") and stripped:
            if stripped[0] in comment_prefixes:
                continue
            cut = _strip_inline_comment(body, inline_prefixes).rstrip()
            lead = len(cut) - len(cut.lstrip())
            part = Mapped.region(text, start + lead, start + len(cut))
            current[2].append(_with_newline(current[2]))
            current[2].append(part)
            continue
        if current is not None and continuation == "backslash" and current[2] and current[2][-1].text.endswith("\\"):
            first = current[2][0]
            vstart = first.offsets[0] if first.text else first.end
            current[2][0] = Mapped.region(text, vstart, start + len(body.rstrip()))
            continue
        if not stripped:
            if current is not None and continuation == "indent":
                current[2].append(_with_newline(current[2]))
            continue
        if stripped[0] in comment_prefixes:
            continue
        flush()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            continue
        cut = body if continuation == "backslash" else _strip_inline_comment(body, inline_prefixes)
        seps = [k for k in (cut.find("="), cut.find(":")) if k > 0]
        if not seps or continuation == "backslash" and cut.find("=") < 0:
            continue
        k = cut.find("=") if continuation == "backslash" else min(seps)
        key = cut[:k].strip()
        value_text = cut[k + 1 :]
        lead = len(value_text) - len(value_text.lstrip())
        vstart = start + k + 1 + lead
        vend = start + len(cut.rstrip()) if cut.rstrip() else vstart
        current = (key, start, [Mapped.region(text, vstart, max(vstart, vend))])
    flush()
    return entries


def _with_newline(parts: list[Mapped]) -> Mapped:
    """A newline joining continuation lines, mapped to the previous part's end."""
    end = parts[-1].end if parts else 0
    return Mapped("\n", (end,), end)


def configparser_check(text: str, entries: list[IniEntry]) -> Optional[str]:
    """Parse with configparser as supervisor does; return an error or a mismatch, else None."""
    parser = configparser.RawConfigParser(
        inline_comment_prefixes=(";", "#"), strict=False, interpolation=None
    )
    parser.optionxform = str  # keep key case
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return str(exc).splitlines()[0]
    last = {(e.section, e.key): e for e in entries}
    for entry in last.values():
        if parser.has_option(entry.section, entry.key):
            if parser.get(entry.section, entry.key) != entry.value.text:
                return f"could not map [{entry.section}] {entry.key} to its text"
    return None
