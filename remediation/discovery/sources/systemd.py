"""systemd units: `ExecStart=`, `Environment=`, `EnvironmentFile=`, `WorkingDirectory=`.

A unit is its unit file plus its drop-ins (`NAME.service.d/*.conf`), merged as systemd does:
the unit file first, then the drop-ins by file name; a later `Environment=` of a variable wins,
an empty `ExecStart=` (or `Environment=`) resets the list, and the last `ExecStart=` left is
the command. The settings of every file of a unit belong to one unit, so a drop-in's command
gets the unit file's environment and working directory.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace
from typing import Optional

from remediation.discovery.cmdline import parse_args
from remediation.discovery.words import Mapped, Word, split_words
from remediation.discovery.sources.base import EnvSetting, Invocation, Located, invocations_in
from remediation.discovery.sources.ini import read_ini
from remediation.discovery.sources.systemd_env import (EnvFileReader, EnvFileRef, UnitEnv, expand_words,
                                                       unit_environment)

EXEC_PREFIXES = "-@:+!"
# where systemd loads system units from, highest priority first (a unit file in an earlier dir
# hides one of the same name in a later dir; so does a drop-in of the same file name)
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/lib/systemd/system", "/usr/lib/systemd/system")


def unit_of(path: str) -> Optional[tuple[str, bool]]:
    """(the unit a file belongs to, whether it is a drop-in), or None when it is neither.

    A unit in systemd's own dirs is its name (systemd merges those dirs); elsewhere (a checkout)
    it is its dir and name, so two units of the same name in two folders stay two."""
    parent, name = posixpath.split(path)
    dropin = parent.endswith(".service.d") and name.endswith(".conf")
    if dropin:
        parent, name = posixpath.split(parent[: -len(".d")])
    elif not name.endswith(".service"):
        return None
    return (name if parent in UNIT_DIRS else posixpath.join(parent, name)), dropin


def _rank(path: str) -> int:
    directory = posixpath.dirname(path)
    if unit_of(path) and unit_of(path)[1]:
        directory = posixpath.dirname(directory)
    return UNIT_DIRS.index(directory) if directory in UNIT_DIRS else len(UNIT_DIRS)


def load_order(paths: list[str]) -> dict[str, list[str]]:
    """unit -> the files systemd reads for it, in the order it applies them (hidden files left out)."""
    units: dict[str, tuple[list[str], dict[str, str]]] = {}
    for path in sorted(paths, key=_rank):
        found = unit_of(path)
        if found is None:
            continue
        fragments, dropins = units.setdefault(found[0], ([], {}))
        if found[1]:
            dropins.setdefault(posixpath.basename(path), path)  # the first (highest) dir wins
        elif not fragments:
            fragments.append(path)
    return {unit: fragments + [dropins[name] for name in sorted(dropins)]
            for unit, (fragments, dropins) in units.items()}


def unit_specifiers(name: str, hostname: str = "") -> dict[str, str]:
    """The specifiers systemd expands in a system unit named `name` (systemd.unit(5)): the
    template's instance (%i, %I), the unit's names (%n, %N, %p, %P), the system directories."""
    base = name.rsplit(".", 1)[0]
    prefix, at, instance = base.partition("@")
    specs = {"n": name, "N": base, "p": prefix, "P": unescape(prefix), "i": instance if at else "",
             "I": unescape(instance) if at else "", "j": prefix.rsplit("-", 1)[-1], "J": unescape(prefix.rsplit("-", 1)[-1]),
             "t": "/run", "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "E": "/etc", "T": "/tmp",
             "V": "/var/tmp", "%": "%"}
    if hostname:
        specs["H"] = hostname
    return specs


def unescape(text: str) -> str:
    """systemd-escape --unescape: `-` is `/`, `\\xNN` a byte."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\x", i) and len(text) >= i + 4:
            try:
                out.append(chr(int(text[i + 2:i + 4], 16)))
                i += 4
                continue
            except ValueError:
                pass
        out.append("/" if text[i] == "-" else text[i])
        i += 1
    return "".join(out)


def expand(value: Mapped, specifiers: Optional[dict[str, str]]) -> Mapped:
    """`value` with systemd's specifiers expanded; every expanded character keeps the offset of
    its `%`, so an edit that would touch it is refused (its span is no longer verbatim)."""
    if not specifiers or "%" not in value.text:
        return value
    text, offsets, i = [], [], 0
    while i < len(value.text):
        if value.text[i] == "%" and i + 1 < len(value.text) and value.text[i + 1] in specifiers:
            new = specifiers[value.text[i + 1]]
            text.append(new)
            offsets += [value.offsets[i]] * len(new)
            i += 2
            continue
        text.append(value.text[i])
        offsets.append(value.offsets[i])
        i += 1
    return Mapped("".join(text), offsets, value.end)


def locate_unit(files: list[tuple[str, str]], unit: Optional[str] = None,
                specifiers: Optional[dict[str, str]] = None, read_env: Optional[EnvFileReader] = None,
                absent: frozenset[str] = frozenset()) -> Located:
    """Every gunicorn the unit (its files in load order) starts, with the environment it gives it;
    `specifiers`: what systemd expands in them (a template's %i); `read_env`: the text of an
    EnvironmentFile= the tree holds (its variables are then expanded into ExecStart, systemd_env.py);
    `absent`: env files systemd names that the host does not have."""
    located = Located()
    unit = unit or files[0][0]
    cwd = None
    env: dict[str, EnvSetting] = {}
    refs: list[EnvFileRef] = []
    unset: set[str] = set()
    exec_start = None
    for path, text in files:
        for entry in (e for e in read_ini(text, continuation="backslash") if e.section == "Service"):
            entry = replace(entry, value=expand(entry.value, specifiers))
            if entry.key == "WorkingDirectory":
                cwd = entry.value.text.lstrip("-") or None
            elif entry.key == "EnvironmentFile":
                env_file = entry.value.text.lstrip("-").strip()
                if env_file:
                    located.env_files.setdefault(unit, []).append(env_file)
                    refs.append(EnvFileRef(env_file, entry.value.text.strip().startswith("-")))
                else:
                    located.env_files.pop(unit, None)
                    refs.clear()
            elif entry.key == "UnsetEnvironment":
                unset.update(w.value.partition("=")[0] for w in split_words(entry.value))
            elif entry.key == "Environment":
                if not entry.value.text.strip():
                    env.clear()
                for word in split_words(entry.value):
                    name, eq, _ = word.value.partition("=")
                    if eq and name:
                        value = word.mapped().sub(len(name) + 1)
                        env.pop(name, None)  # re-inserted: the order is the order of application
                        env[name] = EnvSetting(path, "systemd", unit, name, value, "$" in value.text, word.raw_start)
            elif entry.key == "ExecStart":
                exec_start = (path, entry) if entry.value.text.strip() else None
    located.env.extend(env.values())
    if exec_start is not None:
        path, entry = exec_start
        value = entry.value
        lead = len(value.text) - len(value.text.lstrip(EXEC_PREFIXES))
        words = split_words(value.sub(lead), expansions=True)
        found = invocations_in([words], path, "systemd", unit, cwd=cwd,
                               label=f"systemd {posixpath.basename(path)} ExecStart")
        unit_env = unit_environment(env, refs, read_env, absent, frozenset(unset), unit)
        for inv in found.invocations:
            _expand(inv, words, unit_env)
        located.extend(found)
    return located


def _expand(inv: Invocation, words: list[Word], env: UnitEnv) -> None:
    """The invocation's arguments as systemd expands them from the unit's environment (its own
    words only: a `sh -c` script's variables are the shell's)."""
    if not any("$" in w.value for w in inv.args.words) or not all(any(w is x for x in words) for w in inv.args.words):
        return
    expanded = expand_words(inv.args.words, env)
    if expanded.changed:
        inv.raw_args = inv.args
        inv.args = parse_args(expanded.words)
        inv.inputs, inv.unresolved = expanded.inputs, expanded.unresolved


def locate_systemd(path: str, text: str) -> Located:
    """One unit file (or drop-in) on its own."""
    found = unit_of(path)
    return locate_unit([(path, text)], found[0] if found else path)
