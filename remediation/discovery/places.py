"""Places that set a gunicorn setting, grouped in precedence layers.

A `Place` is one spot in one file (a flag on a command line, a word inside GUNICORN_CMD_ARGS,
an assignment in a config file, a WEB_CONCURRENCY value) with its current value and a way to
rewrite it. A `Layer` is one of gunicorn's config sources for one deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from remediation.discovery.cmdline import CANONICAL_FLAG, GunicornArgs, Occurrence, value_edit
from remediation.discovery.model import Edit, Finding
from remediation.discovery.pyedit import replace_literal
from remediation.discovery.pyeval import Const, EnvGet
from remediation.discovery.pyparse import ParsedPy
from remediation.discovery.sources.base import EnvSetting
from remediation.discovery.words import Word, is_plain, param_default

Setter = Callable[[str], Optional[list[Edit]]]
Adder = Callable[[str, str], Optional[list[Edit]]]

LAYER_ORDER = ("cli", "cmd_args", "config", "env")
LAYER_NAMES = {
    "cli": "command line",
    "cmd_args": "GUNICORN_CMD_ARGS",
    "config": "config file",
    "env": "WEB_CONCURRENCY",
}


@dataclass
class Place:
    """One spot that sets a setting."""

    setting: str
    file: str
    offset: Optional[int]
    layer: str
    current: Optional[str]  # as shown to the user
    value: Optional[str]  # the value it yields when known, normalised to text
    setter: Optional[Setter] = None
    fixed: Optional[str] = None  # why it cannot be rewritten
    note: str = ""
    certain: bool = True
    label: str = ""
    span: Optional[tuple[int, int]] = None

    @property
    def key(self) -> tuple:
        return (self.file, self.offset, self.setting)


@dataclass
class Layer:
    """One config source of one deployment."""

    name: str
    label: str
    certain: bool = True
    places: dict[str, list[Place]] = field(default_factory=dict)
    always: dict[str, bool] = field(default_factory=dict)  # set on every code path
    dead: list[tuple[Place, str]] = field(default_factory=list)
    adder: Optional[Adder] = None
    add_file: Optional[str] = None
    add_offset: Optional[int] = None
    unknown: Optional[str] = None  # the source exists but cannot be read (file not in tree)
    args: Optional[GunicornArgs] = None  # for GUNICORN_CMD_ARGS layers: the parsed value

    def add(self, place: Place, always: bool = True) -> None:
        self.places.setdefault(place.setting, []).append(place)
        self.always[place.setting] = self.always.get(place.setting, True) and always

    def decides(self, setting: str) -> bool:
        places = self.places.get(setting, [])
        return bool(places) and self.certain and self.always.get(setting, False) and all(
            p.certain for p in places
        )


@dataclass
class Proposal:
    """What the tool will do at one place: the finding and, for a patch, its edits."""

    finding: Finding
    edits: list[Edit] = field(default_factory=list)
    key: tuple = ()
    span: Optional[tuple[int, int]] = None
    offset: Optional[int] = None
    rank: int = 0  # when several deployments judge the same place, the highest rank wins
    groups: set = field(default_factory=set)  # deployments / settings modules it belongs to
    held: bool = False  # a worker place left as is (a template) that may still run gevent


def args_layer(args: GunicornArgs, file: str, name: str, label: str, certain: bool,
               adder: Optional[Adder], fixed: Optional[str] = None) -> Layer:
    """Places for the flags on one argument list; repeated flags: the last one wins."""
    layer = Layer(name, label, certain, adder=adder)
    for setting in CANONICAL_FLAG:
        occurrences = args.occurrences.get(setting, [])
        for occ in occurrences[:-1]:
            layer.dead.append((flag_place(args, occ, file, name, label, fixed),
                               f"repeated {occ.flag}; the later {occurrences[-1].flag} wins"))
        if occurrences:
            layer.add(flag_place(args, occurrences[-1], file, name, label, fixed))
    return layer


def flag_place(args: GunicornArgs, occ: Occurrence, file: str, layer: str, label: str,
               fixed: Optional[str]) -> Place:
    word = args.words[occ.value_index]
    offset = word.offsets[occ.value_start] if occ.value_start < len(word.offsets) else word.raw_start
    where = f"{label} {occ.flag}"
    if word.origins:
        return _origin_place(word, occ, file, layer, where, fixed)
    if fixed:
        return Place(occ.setting, file, None, layer, occ.value, occ.value, None, fixed, label=where)
    if word.resolved_from:
        return Place(occ.setting, file, offset, layer, occ.value, occ.value, None,
                     f"the value comes from {word.resolved_from}; change it there", label=where)
    if word.expands:
        default = param_default(word, occ.value_start)
        if default is not None:
            span = word.span(default.start, default.end)

            def set_default(new: str, span=span) -> Optional[list[Edit]]:
                return [Edit(span[0], span[1], new)] if span else None

            return Place(occ.setting, file, offset, layer, occ.value, default.default,
                         set_default if span else None,
                         None if span else "the default is not stored verbatim",
                         note=f"default of ${{{default.name}}}; the variable wins when set",
                         label=where, span=span)
        return Place(occ.setting, file, offset, layer, occ.value, None, None,
                     f"{occ.value} is expanded at run time", label=where)

    def set_value(new: str, occ=occ) -> Optional[list[Edit]]:
        edit = value_edit(args, occ, new)
        return [edit] if edit else None

    span = word.span(occ.value_start, len(word.value))
    return Place(occ.setting, file, offset, layer, occ.value, occ.value, set_value,
                 None if span else "the value is quoted or escaped in a way that cannot be edited in place",
                 label=where, span=span)


def _origin_place(word: Word, occ: Occurrence, file: str, layer: str, where: str, fixed: Optional[str]) -> Place:
    """A flag whose value the manager expanded from a variable (systemd's `${NAME}`): the place is
    where the variable is set, and the edit lands inside that value."""
    origin = word.origin_of(occ.value_start)
    if origin is None:
        names = ", ".join(f"${o.var}" for o in word.origins)
        return Place(occ.setting, file, word.raw_start, layer, occ.value, occ.value, None,
                     fixed or f"it is made from {names} and other text: no one place sets it", label=where)
    offset = word.offsets[occ.value_start]
    where = f"{where} (${origin.var} in {origin.file})"
    if fixed:
        return Place(occ.setting, origin.file, offset, layer, occ.value, occ.value, None, fixed, label=where)
    span = word.span(occ.value_start, len(word.value))

    def set_value(new: str) -> Optional[list[Edit]]:
        return [Edit(span[0], span[1], new)] if span and is_plain(new) else None

    return Place(occ.setting, origin.file, offset, layer, occ.value, occ.value, set_value if span else None,
                 None if span else "the value is not stored verbatim where it is set", label=where, span=span)


def literal_place(value: Const, setting: str) -> Place:
    parsed: ParsedPy = value.file
    start, end = parsed.span(value.node)

    def setter(new: str) -> Optional[list[Edit]]:
        typed = new if setting == "worker_class" else int(new)
        edit = replace_literal(parsed, value.node, typed)
        return [edit] if edit else None

    shown = str(value.value)
    return Place(setting, parsed.path, start, "config", shown, shown, setter,
                 label=f"{parsed.path} {setting}", span=(start, end))


def env_default_place(value: EnvGet, setting: str) -> Place:
    parsed = value.file
    default = value.default
    offset = parsed.span(value.node)[0]
    note = f"default of ${value.var}; the variable wins when set"
    if default is None or default.node is None:
        return Place(setting, parsed.path, offset, "config", value.show(), None, None,
                     f"it is read from ${value.var} with no default", label=f"{parsed.path} {setting}")
    start, end = parsed.span(default.node)

    def setter(new: str) -> Optional[list[Edit]]:
        typed = new if setting == "worker_class" else int(new)
        edit = replace_literal(parsed, default.node, typed)
        return [edit] if edit else None

    return Place(setting, parsed.path, start, "config", value.show(), str(default.value), setter,
                 note=note, label=f"{parsed.path} {setting}", span=(start, end))


def env_place(env: EnvSetting, setting: str, layer: str, certain: bool) -> Place:
    text = env.value.text
    offset = env.value.offsets[0] if text else env.offset
    span = env.value.span(0, len(text)) if text else None
    fixed = None
    if env.expands or "$" in text or "%(" in text:
        fixed = "it is expanded at run time"
    elif span is None:
        fixed = "the value is not stored verbatim"

    def setter(new: str) -> Optional[list[Edit]]:
        return [Edit(span[0], span[1], new)] if span and is_plain(new) else None

    return Place(setting, env.file, offset, layer, f"{env.name}={text}", text if not fixed else None,
                 None if fixed else setter, fixed, certain=certain, label=f"{env.name} in {env.file}",
                 span=span)
