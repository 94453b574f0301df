"""Where a variable that decides something at run time is given a value in the tree.

Pure: the tree's texts in, `file:line` places out. Used to say what decides an outcome the
analysis cannot fix (a config path `-c ${gunicorn}`, a class `-k $WORKER_CLASS`)."""

from __future__ import annotations

import re
from typing import Mapping

NAME = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
MAX_PLACES = 6


def variables(text: str) -> list[str]:
    """The variables a shell word expands (`${gunicorn}/x` -> ["gunicorn"])."""
    return list(dict.fromkeys(NAME.findall(text)))


def setters(texts: Mapping[str, str], var: str) -> list[str]:
    """`file:line` of lines that give `var` a value: shell/env `VAR=`, Dockerfile `ENV VAR`/
    `ARG VAR`, YAML `VAR:` or `- VAR=`, systemd `Environment=VAR=`."""
    name = re.escape(var)
    pattern = re.compile(rf"""^\s*(?:(?:ENV|ARG)\s+{name}(?:[\s=]|$)"""
                         rf"""|(?:export\s+|-\s+|Environment=["']?)?{name}\s*[=:])""", re.MULTILINE)
    found = []
    for path in sorted(texts):
        text = texts[path]
        if var not in text:
            continue
        for match in pattern.finditer(text):
            found.append(f"{path}:{text.count(chr(10), 0, match.start()) + 1}")
            if len(found) >= MAX_PLACES:
                return found
    return found


def decided_by(texts: Mapping[str, str], word: str) -> str:
    """'; $X is set in a:1, b:2' for the variables in `word`, or '' when the tree sets none."""
    parts = []
    for var in variables(word):
        places = setters(texts, var)
        if places:
            parts.append(f"${var} is set in {', '.join(places)}")
        else:
            parts.append(f"${var} is not set in the tree")
    return ("; what decides it: " + "; ".join(parts)) if parts else ""
