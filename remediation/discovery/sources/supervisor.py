"""supervisord program sections: `command=` (continuation lines, `%(ENV_X)s`), `environment=`."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from typing import Optional

from remediation.discovery.words import Mapped, Word, split_words
from remediation.discovery.sources.base import EnvSetting, Issue, Located, invocations_in
from remediation.discovery.sources.envfile import unquote
from remediation.discovery.sources.shell import substitute
from remediation.discovery.sources.ini import configparser_check, read_ini

PROGRAM_PREFIXES = ("program:", "fcgi-program:")


ENV_REF = re.compile(r"^(-[\w-]+=)?%\(ENV_(\w+)\)s$")


def mark_interpolations(words: list[Word], env: Optional[dict[str, EnvSetting]] = None) -> list[Word]:
    """`%(ENV_X)s` and friends are expanded by supervisor: their value is not literal. Where
    the tree sets X once (a Dockerfile ENV), that value is known but is edited there, not here."""
    out = []
    for w in words:
        match = ENV_REF.match(w.value)
        setting = (env or {}).get(match.group(2)) if match else None
        if setting is not None:
            head = match.group(1) or ""
            value = head + setting.value.text
            offsets = tuple(w.offsets[:len(head)]) + tuple([w.offsets[-1]] * len(setting.value.text))
            out.append(replace(w, value=value, offsets=offsets, expands=False,
                               resolved_from=f"{setting.name}={setting.value.text} in {setting.file}"))
        else:
            out.append(replace(w, expands=True) if "%(" in w.value else w)
    return out


def split_pairs(value: Mapped) -> list[tuple[str, Mapped]]:
    """`KEY="value",KEY2=value2` as supervisor's environment= parses it."""
    pairs = []
    quote = ""
    start = 0
    text = value.text
    for k in range(len(text) + 1):
        c = text[k] if k < len(text) else ","
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == ",":
            item = value.sub(start, k)
            name, eq, _ = item.text.partition("=")
            if eq:
                body = item.sub(len(name) + 1)
                body = body.sub(len(body.text) - len(body.text.lstrip()), len(body.text.rstrip()))
                pairs.append((name.strip(), unquote(body)))
            start = k + 1
    return pairs


def locate_supervisor(path: str, text: str, check: bool = True,
                      env: Optional[dict[str, EnvSetting]] = None) -> Located:
    """Every gunicorn a supervisor file starts, with its environment and directory."""
    located = Located()
    entries = read_ini(text)
    if check:
        error = configparser_check(text, entries)
        if error:
            located.issues.append(Issue(path, None, "worker_class", f"cannot parse ini: {error}"))
            return located
    programs: dict[str, dict[str, list]] = {}
    daemon_env: list[EnvSetting] = []
    for entry in entries:
        if entry.section.startswith(PROGRAM_PREFIXES):
            programs.setdefault(entry.section, {}).setdefault(entry.key, []).append(entry)
        elif entry.section == "supervisord" and entry.key == "environment":
            daemon_env = _env(path, f"{path}#", entry.value)
            located.env += daemon_env
    for section, keys in programs.items():
        unit = f"{path}#{section}"
        cwd = keys["directory"][-1].value.text if "directory" in keys else None
        own: list[EnvSetting] = []
        for entry in keys.get("environment", [])[-1:]:
            own = _env(path, unit, entry.value)
            located.env += own
        variables = shell_variables(daemon_env + own)  # the program's environment= wins
        for entry in keys.get("command", [])[-1:]:
            words = mark_interpolations(split_words(entry.value), env)
            located.extend(invocations_in([words], path, "supervisor", unit, cwd=cwd,
                                          label=f"supervisor [{section}]",
                                          expand=partial(substitute, variables=variables)))
    return located


def shell_variables(settings: list[EnvSetting]) -> dict[str, Word]:
    """The variables a shell started by the program finds in its environment (supervisor's
    `environment=`, later ones winning), as words whose characters stay where they are set:
    `bash -c "${BIN} -k gevent"` reads BIN there, and an edit of its value lands there."""
    out: dict[str, Word] = {}
    for env in settings:
        value = env.value
        start = value.offsets[0] if value.text else value.end
        out[env.name] = Word(value.text, tuple(value.offsets), start, value.end, env.expands)
    return out


def _env(path: str, unit: str, value: Mapped) -> list[EnvSetting]:
    found = []
    for name, mapped in split_pairs(value):
        if name:
            offset = mapped.offsets[0] if mapped.text else mapped.end
            found.append(EnvSetting(path, "supervisor", unit, name, mapped, "%(" in mapped.text,
                                    offset))
    return found
