"""Shell entrypoints and Procfiles: gunicorn command lines and exported variables."""

from __future__ import annotations

from typing import Optional

from remediation.discovery.words import Mapped, Word, param_default, split_commands
from remediation.discovery.sources.base import EnvSetting, Located, invocations_in, is_assignment

EXPORTERS = {"export", "declare", "typeset", "readonly", "local"}


def exported_env(commands: list[list[Word]], file: str, kind: str, unit: str) -> list[EnvSetting]:
    """`export NAME=value` or a bare `NAME=value` line for a gunicorn-relevant variable."""
    found = []
    for command in commands:
        words = command[1:] if command[0].value in EXPORTERS else command
        if not words or not all(is_assignment(w) or w.value.startswith("-") for w in words):
            continue
        for word in words:
            name, eq, _ = word.value.partition("=")
            if eq and name:
                start = len(name) + 1
                value = Mapped(word.value[start:], word.offsets[start:], word.raw_end)
                found.append(EnvSetting(file, kind, unit, name, value, word.expands, word.raw_start))
    return found


def script_variables(commands: list[list[Word]]) -> dict[str, Word]:
    """Variables a script defines exactly once, as the word gunicorn would see in their place.

    `NAME=value` (or `export NAME=value`) gives the value itself; `: "${NAME:=d}"` gives
    `${NAME:-d}` (the environment wins, d otherwise). The characters of the value keep their
    offsets at the definition, so an edit lands there. A variable defined twice (built up,
    set in branches) is left out: its value is only known at run time."""
    seen: dict[str, list[Word]] = {}
    for command in commands:
        words = command[1:] if command[0].value in EXPORTERS else command
        if words and all(is_assignment(w) for w in words):
            for word in words:
                name, _, _ = word.value.partition("=")
                start = len(name) + 1
                seen.setdefault(name, []).append(
                    Word(word.value[start:], word.offsets[start:], word.raw_start, word.raw_end,
                         word.expands, word.quoted))
        elif command[0].value == ":":
            for word in command[1:]:
                default = param_default(word)
                if default is None or default.start == default.end:
                    continue
                d_offsets = word.offsets[default.start:default.end]
                prefix = f"${{{default.name}:-"
                value = prefix + default.default + "}"
                offsets = (d_offsets[0],) * len(prefix) + tuple(d_offsets) + (d_offsets[-1],)
                seen.setdefault(default.name, []).append(
                    Word(value, offsets, word.raw_start, word.raw_end, True, word.quoted))
        for word in command:
            # `${NAME:=d}` inside any other command also assigns: count it as a definition
            default = param_default(word) if command[0].value != ":" else None
            if default is not None and ":=" in word.value:
                seen.setdefault(default.name, []).append(word)
    return {name: words[0] for name, words in seen.items() if len(words) == 1}


def _reference(word: Word) -> Optional[str]:
    value = word.value
    if value.startswith("${") and value.endswith("}") and value[2:-1].replace("_", "a").isalnum():
        return value[2:-1]
    if value.startswith("$") and value[1:].replace("_", "a").isalnum():
        return value[1:]
    return None


def _flag_reference(word: Word, variables: dict[str, Word]) -> Optional[Word]:
    """`--worker-class="${NAME}"` (or `--env KEY=${NAME}`'s `KEY=${NAME}`): the head kept, the
    value replaced like a whole word."""
    flag, eq, rest = word.value.partition("=")
    if not (eq and (flag.startswith("-") or flag.isidentifier())):
        return None
    ref = _reference(Word(rest, word.offsets[len(flag) + 1:], word.raw_start, word.raw_end))
    target = variables.get(ref) if ref else None
    if target is None:
        return None
    head = len(flag) + 1
    expands = target.expands or target.value.startswith("${" + ref)
    return Word(word.value[:head] + target.value, tuple(word.offsets[:head]) + tuple(target.offsets),
                word.raw_start, word.raw_end, expands, word.quoted or target.quoted)


def substitute(commands: list[list[Word]], variables: dict[str, Word]) -> list[list[Word]]:
    """Commands with `$NAME` words replaced by the script's own value for NAME, and the
    commands kept in a variable and run with `eval "$CMD"`, `exec $CMD` or `$CMD` expanded."""
    out = []
    for command in commands:
        head = 1 if command[0].value in ("eval", "exec") else 0
        rest = command[head:]
        name = _reference(rest[0]) if len(rest) == 1 else None
        if name and name in variables and "gunicorn" in variables[name].value:
            inner = split_commands(variables[name].mapped(), shell=True)
            out += substitute(inner, {k: v for k, v in variables.items() if k != name})
            continue
        words = []
        for word in command:
            flagged = _flag_reference(word, variables)
            if flagged is not None:
                words.append(flagged)
                continue
            ref = _reference(word)
            target = variables.get(ref) if ref else None
            if target is not None and not target.value.startswith("${" + ref):
                words.append(Word(target.value, target.offsets, word.raw_start, word.raw_end,
                                  target.expands, word.quoted or target.quoted))
            elif target is not None:
                words.append(Word(target.value, target.offsets, word.raw_start, word.raw_end,
                                  True, word.quoted))
            else:
                words.append(word)
        out.append(words)
    return out


def locate_shell(path: str, text: str) -> Located:
    """A shell script: every gunicorn it starts and every variable it exports."""
    commands = split_commands(Mapped.region(text), shell=True)
    expanded = substitute(commands, script_variables(commands))
    located = invocations_in(expanded, path, "shell", path, label="shell script")
    located.env += exported_env(commands, path, "shell", path)
    return located


def locate_procfile(path: str, text: str) -> Located:
    """A Procfile: `type: command` per line, each command run by a shell."""
    located = Located()
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        name, colon, _ = body.partition(":")
        if colon and name.strip() and not name.lstrip().startswith("#"):
            start = pos + len(name) + 1
            commands = split_commands(Mapped.region(text, start, pos + len(body)), shell=True)
            unit = f"{path}#{name.strip()}"
            located.extend(invocations_in(commands, path, "procfile", unit,
                                          label=f"Procfile process {name.strip()}"))
            located.env += exported_env(commands, path, "procfile", unit)
        pos += len(line)
    return located
