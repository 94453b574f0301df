"""Shell entrypoints and Procfiles: gunicorn command lines and exported variables."""

from __future__ import annotations

from remediation.discovery.words import Mapped, Word, split_commands
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


def locate_shell(path: str, text: str) -> Located:
    """A shell script: every gunicorn it starts and every variable it exports."""
    commands = split_commands(Mapped.region(text), shell=True)
    located = invocations_in(commands, path, "shell", path, label="shell script")
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
