"""Map a YAML scalar's value back to file offsets, for every scalar style.

ruamel.yaml tells where a scalar node starts and ends; the value is rebuilt here from the raw
text (quotes, escapes, folding, block indentation) character by character, and accepted only if
it equals the value ruamel.yaml decoded.
"""

from __future__ import annotations

from typing import Optional

from remediation.discovery.words import Mapped

DOUBLE_ESCAPES = {"\\": "\\", '"': '"', "/": "/", "n": "\n", "t": "\t", " ": " ", "0": "\0",
                  "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "N": "\x85", "_": "\xa0"}


def scalar_mapped(text: str, node) -> Optional[Mapped]:
    """Mapped value of a ruamel ScalarNode, or None if the mapping cannot be verified."""
    start, end = node.start_mark.index, node.end_mark.index
    style = node.style
    if style in ("|", ">"):
        mapped = _block(text, start, end, style == ">")
    elif style in ("'", '"'):
        mapped = _flow(text, start + 1, end - 1, style)
    else:
        mapped = _flow(text, start, end, None)
    if mapped is None or mapped.text != node.value:
        return None
    return mapped


def _flow(text: str, start: int, end: int, quote: Optional[str]) -> Optional[Mapped]:
    chars: list[str] = []
    offs: list[int] = []
    i = start
    pending_break: list[int] = []  # offsets of line breaks seen in the current fold
    while i < end:
        c = text[i]
        if c == "\n":
            while chars and chars[-1] in " \t" and offs[-1] >= 0:
                chars.pop()
                offs.pop()
            pending_break.append(i)
            i += 1
            while i < end and text[i] in " \t":
                i += 1
            continue
        if pending_break:
            if len(pending_break) == 1:
                chars.append(" ")
                offs.append(pending_break[0])
            else:
                for b in pending_break[1:]:
                    chars.append("\n")
                    offs.append(b)
            pending_break = []
        if quote == "'" and c == "'" and i + 1 < end and text[i + 1] == "'":
            chars.append("'")
            offs.append(i)
            i += 2
        elif quote == '"' and c == "\\":
            nxt = text[i + 1] if i + 1 < end else ""
            if nxt == "\n":
                i += 2
                while i < end and text[i] in " \t":
                    i += 1
                continue
            if nxt in DOUBLE_ESCAPES:
                chars.append(DOUBLE_ESCAPES[nxt])
                offs.append(i + 1 if nxt in '\\"/ ' else i)
                i += 2
            elif nxt in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                chars.append(chr(int(text[i + 2 : i + 2 + width], 16)))
                offs.append(i)
                i += 2 + width
            else:
                return None
        else:
            chars.append(c)
            offs.append(i)
            i += 1
    return Mapped("".join(chars), offs, end)


def _block(text: str, start: int, end: int, folded: bool) -> Optional[Mapped]:
    header_end = text.find("\n", start)
    if header_end < 0 or header_end >= end:
        return None
    header = text[start + 1 : header_end].split("#", 1)[0].strip()
    chomp = "+" if "+" in header else "-" if "-" in header else ""
    digits = "".join(c for c in header if c.isdigit())
    lines: list[tuple[int, str]] = []
    pos = header_end + 1
    while pos < end:
        nl = text.find("\n", pos)
        line_end = end if nl < 0 or nl >= end else nl
        lines.append((pos, text[pos:line_end]))
        pos = line_end + 1
    indent = None
    if digits:
        parent = text.rfind("\n", 0, start) + 1
        base = len(text[parent:start]) - len(text[parent:start].lstrip(" "))
        indent = base + int(digits)
    for _, line in lines:
        if line.strip():
            indent = indent if indent is not None else len(line) - len(line.lstrip(" "))
            break
    if indent is None:
        return Mapped("", (), end)
    chars: list[str] = []
    offs: list[int] = []
    content = lines
    last_content = max((k for k, (_, text) in enumerate(content) if text.strip()), default=-1)
    prev_kind = None  # "text" | "blank" | "more"
    for k, (p, line) in enumerate(content):
        if k > last_content:
            break
        blank = not line.strip()
        more = not blank and line[:indent].strip() == "" and line[indent:indent + 1] in (" ", "\t")
        if k > 0:
            nl_at = p - 1
            if folded and prev_kind == "text" and not blank and not more:
                chars.append(" ")
            else:
                chars.append("\n")
            offs.append(nl_at)
            if folded and prev_kind == "text" and blank:
                chars.pop()
                offs.pop()
        if not blank:
            body = line[indent:]
            chars.extend(body)
            offs.extend(range(p + indent, p + len(line)))
        prev_kind = "blank" if blank else "more" if more else "text"
    if chomp != "-" and last_content >= 0:
        chars.append("\n")
        offs.append(content[last_content][0] + len(content[last_content][1]))
        if chomp == "+":
            for p, _ in content[last_content + 1 :]:
                chars.append("\n")
                offs.append(p)
    return Mapped("".join(chars), offs, content[last_content][0] + len(content[last_content][1]))
