"""A systemd unit's environment and its expansion into `ExecStart=` (pure).

The environment (systemd.exec(5)): `Environment=` assignments in the order systemd reads the
unit's files (a later one wins, an empty one resets them), then the `EnvironmentFile=` files in
their order, whose settings override `Environment=` ones (a later file wins; `-PATH` is optional:
a missing one sets nothing; an empty `EnvironmentFile=` resets the list); `UnsetEnvironment=`
removes names last. The manager's own environment (`PassEnvironment=`, `systemctl
set-environment`) and what systemd adds itself (`$MAINPID`, `$USER`...) are not in the files: a
name no file sets is unknown, never "unset".

The command line (systemd.service(5), "Command lines"), after systemd's own unquoting: a word
that is `$NAME` alone becomes NAME's value split at whitespace, quotes respected and removed
(zero or more words); `${NAME}` anywhere in a word is replaced by the exact value, whitespace
included (one word); `$$` is a literal `$`. Any other `$` form (`${NAME:-x}`, `$NAME` inside a
word) is left as written, unknown.

Each expanded character keeps its offset in the file that sets the variable, and the word names
that file (`Word.origins`): a value is patched where it is set, e.g. inside an env file's
`GUNICORN_OPTS="..."` string.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from remediation.discovery.sources.base import EnvSetting
from remediation.discovery.words import Mapped, Origin, Word, split_words

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WHOLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# an EnvironmentFile= path -> (its tree key, its text), None when the tree does not hold it
EnvFileReader = Callable[[str], Optional[tuple[str, str]]]


@dataclass(frozen=True)
class EnvFileRef:
    path: str  # as systemd names it (specifiers expanded)
    optional: bool  # `-PATH`


@dataclass
class EnvFileValues:
    """One env file as systemd reads it: NAME -> its setting (the last line wins), and the names
    set in a way not read verbatim (escapes, continuations, text after a closing quote)."""

    values: dict[str, EnvSetting] = field(default_factory=dict)
    unclear: set[str] = field(default_factory=set)
    whole_file_unclear: bool = False  # a quote left open: the rest of the file is one value


def read_env_file(path: str, text: str, unit: Optional[str] = None) -> EnvFileValues:
    """`KEY=VALUE` lines of a systemd EnvironmentFile=: `#`/`;` comments, whitespace around the
    key and an unquoted value stripped, one pair of single or double quotes removed (no
    inline comments: `#` after a value is part of it)."""
    out = EnvFileValues()
    pos = 0
    continued = False
    for line in text.splitlines(keepends=True):
        start, body = pos, line.rstrip("\r\n")
        pos += len(line)
        if continued:  # a backslash-continued line belongs to the value before it
            continued = body.endswith("\\")
            continue
        stripped = body.lstrip()
        if not stripped or stripped[0] in "#;":
            continue
        key, eq, rest = stripped.partition("=")
        key = key.strip()
        if not eq or not NAME.fullmatch(key):
            if eq and key.startswith("export "):
                out.unclear.add(key[len("export "):].strip())
            continue
        value_at = start + len(body) - len(rest)
        parsed = _value(text, value_at, rest)
        out.values.pop(key, None)
        out.unclear.discard(key)
        if parsed == "open":
            out.unclear.add(key)
            out.whole_file_unclear = True
            break
        if parsed is None:
            out.unclear.add(key)
            continued = body.endswith("\\")
            continue
        out.values[key] = EnvSetting(path, "env-file", unit, key, parsed, False, start)
    return out


def _value(text: str, at: int, rest: str):
    """The value's characters mapped to the file, None when it is not read verbatim, "open"
    when a quote is not closed on its line."""
    lead = len(rest) - len(rest.lstrip(" \t"))
    body = rest[lead:]
    if body[:1] in ("'", '"'):
        close = body.find(body[0], 1)
        if close < 0:
            return "open"
        inner = body[1:close]
        if body[close + 1:].strip() or (body[0] == '"' and "\\" in inner):
            return None
        return Mapped.region(text, at + lead + 1, at + lead + close)
    value = body.rstrip()
    if any(c in value for c in "\\'\"") or value.endswith("\\"):
        return None
    return Mapped.region(text, at + lead, at + lead + len(value))


@dataclass
class UnitEnv:
    """What systemd gives a unit's process, as far as the tree shows it."""

    settings: dict[str, tuple[int, EnvSetting]] = field(default_factory=dict)  # name -> (source rank, setting)
    unclear: dict[str, str] = field(default_factory=dict)  # name -> why its value is not known
    unread: list[tuple[int, str]] = field(default_factory=list)  # (rank, path) of env files the tree lacks
    unset: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)  # env file as systemd names it -> tree key

    def lookup(self, name: str) -> tuple[Optional[EnvSetting], str]:
        """(the setting systemd applies for `name`, "") or (None, why it is not known)."""
        if name in self.unset:
            return None, f"${name} is removed by UnsetEnvironment="
        if name in self.unclear:
            return None, self.unclear[name]
        found = self.settings.get(name)
        later = [path for rank, path in self.unread if found is None or rank > found[0]]
        if later:
            return None, f"${name} may be set in {later[-1]}, which was not read"
        if found is None:
            return None, f"${name} is set by no file of the unit (systemd or its manager may set it)"
        return found[1], ""


def unit_environment(assigned: dict[str, EnvSetting], refs: list[EnvFileRef], read: Optional[EnvFileReader],
                     absent: frozenset[str] = frozenset(), unset: frozenset[str] = frozenset(),
                     unit: Optional[str] = None) -> UnitEnv:
    """The unit's environment: `assigned` (its Environment= settings, in effect), then each env
    file in order (`absent`: files systemd names that the host does not have)."""
    env = UnitEnv(unset=set(unset))
    for name, setting in assigned.items():
        env.settings[name] = (-1, setting)
    for rank, ref in enumerate(refs):
        found = read(ref.path) if read is not None else None
        if found is None:
            if ref.path not in absent:
                env.unread.append((rank, ref.path))
            continue
        key, text = found
        env.files[ref.path] = key
        values = read_env_file(key, text, unit)
        for name in values.unclear:
            env.settings.pop(name, None)
            env.unclear[name] = f"${name} is set in {key} in a way not read verbatim"
        for name, setting in values.values.items():
            env.unclear.pop(name, None)
            env.settings[name] = (rank, setting)
        if values.whole_file_unclear:
            env.unread.append((rank, key))
    return env


@dataclass
class Expanded:
    words: list[Word]
    inputs: tuple[str, ...] = ()  # files whose settings the words came from
    unresolved: tuple[str, ...] = ()  # why a reference stayed as written (one line each)

    changed: bool = False  # some word differs from the one written


def expand_words(words: list[Word], env: UnitEnv) -> Expanded:
    """`words` (one command line, unquoted by systemd) with their variable references replaced
    as systemd replaces them; a reference that cannot be resolved leaves its word as written."""
    out: list[Word] = []
    inputs: list[str] = []
    unresolved: list[str] = []
    for word in words:
        if "$" not in word.value:
            out.append(word)
            continue
        whole = WHOLE.fullmatch(word.value)
        if whole:
            setting, why = env.lookup(whole.group(1))
            if setting is None:
                out.append(replace(word, expands=True))
                unresolved.append(why)
                continue
            inputs.append(setting.file)
            label = f"{setting.name} in {setting.file}"
            for piece in split_words(setting.value):
                out.append(Word(piece.value, piece.offsets, word.raw_start, word.raw_end, False, word.quoted,
                                origins=(Origin(setting.name, setting.file, 0, len(piece.value), label),)))
            continue
        expanded, why = _in_word(word, env)
        if expanded is None:
            out.append(replace(word, expands=True))
            unresolved.append(why)
            continue
        inputs += [o.file for o in expanded.origins]
        out.append(expanded)
    changed = [w.value for w in out] != [w.value for w in words] or bool(inputs)
    return Expanded(out, tuple(dict.fromkeys(inputs)), tuple(unresolved), changed)


def _in_word(word: Word, env: UnitEnv) -> tuple[Optional[Word], str]:
    """`${NAME}` and `$$` replaced inside one word; (None, why) for anything else or an unknown name."""
    value, offsets, origins = [], [], []
    i, text = 0, word.value
    while i < len(text):
        if text.startswith("$$", i):
            value.append("$")
            offsets.append(word.offsets[i])
            i += 2
            continue
        if text[i] != "$":
            value.append(text[i])
            offsets.append(word.offsets[i])
            i += 1
            continue
        braced = BRACED.match(text, i)
        if braced is None:
            return None, f"{text} uses a form of $ systemd does not expand here, or expands otherwise"
        setting, why = env.lookup(braced.group(1))
        if setting is None:
            return None, why
        start = len(value)
        value += list(setting.text)
        offsets += list(setting.value.offsets)
        origins.append(Origin(setting.name, setting.file, start, len(value), f"{setting.name} in {setting.file}"))
        i = braced.end()
    return Word("".join(value), tuple(offsets), word.raw_start, word.raw_end, False, word.quoted,
                origins=tuple(origins)), ""
