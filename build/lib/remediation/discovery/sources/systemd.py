"""systemd units: `ExecStart=`, `Environment=`, `EnvironmentFile=`, `WorkingDirectory=`."""

from __future__ import annotations

import posixpath

from remediation.discovery.words import split_words
from remediation.discovery.sources.base import EnvSetting, Located, invocations_in
from remediation.discovery.sources.ini import read_ini

EXEC_PREFIXES = "-@:+!"


def locate_systemd(path: str, text: str) -> Located:
    """Every gunicorn a unit file starts, with the environment the unit gives it."""
    located = Located()
    entries = [e for e in read_ini(text, continuation="backslash") if e.section == "Service"]
    unit = path
    cwd = None
    for entry in entries:
        if entry.key == "WorkingDirectory":
            cwd = entry.value.text.lstrip("-")
        elif entry.key == "EnvironmentFile":
            env_file = entry.value.text.lstrip("-").strip()
            located.env_files.setdefault(unit, []).append(env_file)
        elif entry.key == "Environment":
            for word in split_words(entry.value):
                name, eq, _ = word.value.partition("=")
                if eq and name:
                    start = len(name) + 1
                    value = word.mapped().sub(start)
                    located.env.append(EnvSetting(path, "systemd", unit, name, value,
                                                  "$" in value.text, word.raw_start))
    exec_starts = [e for e in entries if e.key == "ExecStart"]
    for entry in exec_starts[-1:] if exec_starts else []:
        value = entry.value
        lead = len(value.text) - len(value.text.lstrip(EXEC_PREFIXES))
        words = split_words(value.sub(lead), expansions=True)
        located.extend(invocations_in([words], path, "systemd", unit, cwd=cwd,
                                      label=f"systemd {posixpath.basename(path)} ExecStart"))
    return located
