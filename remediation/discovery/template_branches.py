"""Worker classes written inside template conditionals ({% if %} ... {% endif %}).

A parser reads one rendering of a template (the masked text); a gevent-style class inside a
conditional block may be what another rendering runs. Pure: text in, places out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediation.discovery.sources.jinja import Template
from remediation.discovery.worker_classes import GREENLETS, classify

MENTION = re.compile(r"""(?:(?<![\w-])-k|--worker-class)(?:=|\s+)["']?([\w.:#]+)"""
                     r"""|\bworker_class\s*=\s*["']([\w.:#]+)""")


@dataclass(frozen=True)
class Branch:
    """A gevent-style worker class inside a conditional block: [start, end) of the block."""

    offset: int
    name: str
    block_end: int


def gevent_in_conditionals(text: str, template: Template) -> list[Branch]:
    found = []
    for match in MENTION.finditer(text):
        name = match.group(1) or match.group(2)
        line_start = text.rfind("\n", 0, match.start()) + 1
        if text[line_start:match.start()].lstrip().startswith(("#", ";")):
            continue
        if classify(name) not in GREENLETS:
            continue
        blocks = [(s, e) for s, e in template.conditionals if s <= match.start() < e]
        if blocks:
            found.append(Branch(match.start(), name, max(e for _, e in blocks)))
    return found
