"""Surgical edits to Python source, located with libcst positions.

Each helper returns text edits that touch only the targeted tokens (a literal, a new dict
entry or keyword argument, a new statement), so comments and formatting elsewhere stay
byte-for-byte. Callers re-parse and re-evaluate the result before accepting it.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import libcst as cst

from remediation.discovery.model import Edit
from remediation.discovery.pyparse import ParsedPy


def python_literal(value: Any, like: Optional[cst.CSTNode] = None) -> str:
    """Spell `value` as a literal of the same kind as `like` (keeping string quotes)."""
    if isinstance(like, cst.SimpleString):
        prefix = like.prefix
        quote = like.quote
        return f"{prefix}{quote}{value}{quote}"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return repr(str(value))


def replace_literal(parsed: ParsedPy, node: cst.CSTNode, value: Any) -> Optional[Edit]:
    """Replace one literal node with `value`, same literal kind where it makes sense."""
    if isinstance(node, cst.SimpleString) and isinstance(value, bool):
        like = node  # env.bool("X", default="False") style
    elif isinstance(node, cst.SimpleString):
        like = node
        if any(c in str(value) for c in "\\'\"\n"):
            return None
    else:
        like = None
    start, end = parsed.span(node)
    return Edit(start, end, python_literal(value, like))


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


def append_item(
    parsed: ParsedPy,
    opener: int,
    elements: Sequence[cst.CSTNode],
    has_comma: Sequence[bool],
    code: str,
) -> Optional[list[Edit]]:
    """Add `code` as the last item of a bracketed, comma-separated list (dict or call args).

    opener: offset just after the opening bracket.
    """
    text = parsed.text
    if not elements:
        # `{}` / `f()`: a second item inserted at the same place is joined with ", "
        return [Edit(opener, opener, code, sep=", ")]
    last_start, last_end = parsed.span(elements[-1])
    line_start = _line_start(text, last_start)
    indent = text[line_start:last_start]
    own_line = indent.strip() == "" and line_start > opener
    if not own_line:
        return [Edit(last_end, last_end, ", " + code)]
    if has_comma[-1]:
        comma = text.find(",", last_end)
        if comma < 0:
            return None
        end = _line_end(text, comma)
        if not _only_comment(text[comma + 1 : end]):
            return [Edit(comma + 1, comma + 1, " " + code + ",")]
        return [Edit(end, end, "\n" + indent + code + ",")]
    end = _line_end(text, last_end)
    if not _only_comment(text[last_end:end]):
        return [Edit(last_end, last_end, ", " + code)]
    # The new item ends with a comma too: a second item appended at the same place (both
    # CONN_ keys) must not run into this one.
    return [Edit(last_end, last_end, ","), Edit(end, end, "\n" + indent + code + ",")]


def _only_comment(rest: str) -> bool:
    stripped = rest.strip()
    return not stripped or stripped.startswith("#")


def append_dict_entry(parsed: ParsedPy, node: cst.Dict, key: str, value: Any) -> Optional[list[Edit]]:
    """Add `"key": value` at the end of a dict literal (after any `**spread`, so it wins)."""
    quote = '"'
    for element in node.elements:
        if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
            quote = element.key.quote
    code = f"{quote}{key}{quote}: {python_literal(value)}"
    start, _ = parsed.span(node)
    commas = [not isinstance(e.comma, cst.MaybeSentinel) for e in node.elements]
    return append_item(parsed, start + 1, node.elements, commas, code)


def append_keyword(parsed: ParsedPy, node: cst.Call, keyword: str, value: Any) -> Optional[list[Edit]]:
    """Add `keyword=value` at the end of a call's arguments."""
    if any(a.star == "**" for a in node.args):
        return None
    _, func_end = parsed.span(node.func)
    opener = parsed.text.find("(", func_end) + 1
    commas = [not isinstance(a.comma, cst.MaybeSentinel) for a in node.args]
    return append_item(parsed, opener, node.args, commas, f"{keyword}={python_literal(value)}")


def insert_after_statement(parsed: ParsedPy, stmt: cst.CSTNode, code: str) -> Edit:
    """A new statement on its own line right after `stmt`, at the same indentation."""
    text = parsed.text
    start, end = parsed.span(stmt)
    indent = text[_line_start(text, start) : start]
    if indent.strip():
        indent = ""
    if end > 0 and text[end - 1] == "\n":
        return Edit(end, end, indent + code + "\n")
    line_end = _line_end(text, end)
    if line_end >= len(text):
        return Edit(len(text), len(text), "\n" + indent + code + "\n")
    return Edit(line_end + 1, line_end + 1, indent + code + "\n")


def append_statement(parsed: ParsedPy, code: str) -> Edit:
    """A new module-level statement at the end of the file."""
    text = parsed.text
    if text and not text.endswith("\n"):
        return Edit(len(text), len(text), "\n" + code + "\n")
    return Edit(len(text), len(text), code + "\n")
