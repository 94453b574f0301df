"""Templates (Jinja, Ansible, Helm): hide template syntax, keep every offset.

Template tags are replaced by same-length filler so the usual parsers can read the file;
the orchestrator refuses any edit that touches a tag or sits inside a conditional block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".tmpl", ".tpl")
OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
BLOCK_START = ("if", "for", "with", "range", "block", "macro")
BLOCK_END = ("endif", "endfor", "endwith", "end", "endblock", "endmacro")


@dataclass
class Template:
    masked: str
    expressions: list[tuple[int, int]] = field(default_factory=list)  # {{ ... }} spans
    conditionals: list[tuple[int, int]] = field(default_factory=list)  # if/for block spans

    def touches(self, start: int, end: int) -> bool:
        """True if [start, end) overlaps template syntax or a conditional block."""
        end = max(end, start + 1)
        return any(s < end and start < e for s, e in self.expressions + self.conditionals)

    def expression_at(self, start: int, end: int, original: str) -> str | None:
        end = max(end, start + 1)
        for s, e in self.expressions:
            if s < end and start < e:
                return original[s:e]
        return None


def looks_templated(path: str, text: str) -> bool:
    return path.endswith(TEMPLATE_SUFFIXES) or "{{" in text or "{%" in text


def mask(text: str) -> Template:
    """Replace `{{ }}` with underscores and `{% %}`/`{# #}` with spaces, offsets unchanged."""
    out = list(text)
    template = Template("")
    stack: list[int] = []
    i = 0
    while True:
        starts = [(text.find(o, i), o) for o in OPENERS]
        starts = [(p, o) for p, o in starts if p >= 0]
        if not starts:
            break
        pos, opener = min(starts)
        close = text.find(OPENERS[opener], pos + 2)
        if close < 0:
            break
        end = close + 2
        inner = text[pos + 2 : close].strip("-+ \t\n")
        keyword = inner.split(None, 1)[0] if inner.split() else ""
        is_control = opener == "{%" or (opener == "{{" and keyword in BLOCK_START + BLOCK_END + ("else",))
        filler = " " if opener != "{{" or is_control else "_"
        for k in range(pos, end):
            if out[k] != "\n":
                out[k] = filler
        if opener == "{{" and not is_control:
            template.expressions.append((pos, end))
        elif keyword in BLOCK_START:
            stack.append(pos)
        elif keyword in BLOCK_END and stack:
            template.conditionals.append((stack.pop(), end))
        i = end
    for start in stack:
        template.conditionals.append((start, len(text)))
    template.masked = "".join(out)
    return template
