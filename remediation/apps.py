"""Several gunicorn apps on one host: every master is an app, named by its manager (pure).

An app's name comes from whoever runs it, so it is the same before and after a restart (a new
master pid): the supervisor program (`group:program` inside a group), the systemd unit, the
compose `project/service`, a plain container's id (`container:ID`), else the address the master listens on
(from its own sockets in /proc). The inventory chooses apps by these names
(`remediation_apps`, `remediation_skip_apps`, `--app`); see docs/apps.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from remediation.errors import InputError
from remediation.model import app_names as named, master_of, matches, name_of

__all__ = ["named", "master_of", "matches", "name_of", "Choice", "choose", "verify_path", "check_vars"]

SELECT_VAR = "remediation_apps"
SKIP_VAR = "remediation_skip_apps"
VERIFY_PATHS_VAR = "remediation_verify_paths"


@dataclass
class Choice:
    """Which apps of a host a run works on, and why the others are left alone."""

    apps: list[str]
    skipped: dict[str, str]  # app -> why it is left alone (not chosen, excluded)


def _names(value, host: str, var: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"host {host}: must be a list of app names, not {value!r}", key=var)
    return list(value)


def choose(host: str, names: list[str], host_vars: dict, only: str | None = None) -> Choice:
    """The apps to run on: `--app` (only) wins, else `remediation_apps`, else every app; minus
    `remediation_skip_apps`. A name that matches no app is bad input (nothing is changed)."""
    selected = [only] if only else _names(host_vars.get(SELECT_VAR), host, SELECT_VAR)
    skip = _names(host_vars.get(SKIP_VAR), host, SKIP_VAR)
    for wanted, var in [(w, "--app" if only else SELECT_VAR) for w in selected] + [(w, SKIP_VAR) for w in skip]:
        if not any(matches(n, wanted) for n in names):
            raise InputError(f"host {host}: no gunicorn app named {wanted!r} runs there (apps: "
                             f"{', '.join(names) or 'none'})", key=var)
    chosen, skipped = [], {}
    for name in names:
        if selected and not any(matches(name, w) for w in selected):
            skipped[name] = f"not chosen ({'--app' if only else SELECT_VAR})"
        elif any(matches(name, w) for w in skip):
            skipped[name] = f"excluded ({SKIP_VAR})"
        else:
            chosen.append(name)
    return Choice(chosen, skipped)


def verify_path(app: str, host_vars: dict) -> str | None:
    """The app's own verify path (`remediation_verify_paths: {app: /path}`), None when not given."""
    paths = host_vars.get(VERIFY_PATHS_VAR) or {}
    for wanted, path in paths.items() if isinstance(paths, dict) else ():
        if matches(app, str(wanted)):
            return str(path)
    return None


def check_vars(host: str, host_vars: dict, where: str) -> None:
    """The selection vars' shapes, checked when the inventory is read."""
    for var in (SELECT_VAR, SKIP_VAR):
        value = host_vars.get(var)
        if value is not None and not (isinstance(value, str) and value) and not (
                isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            raise InputError(f"host {host}: must be a list of app names, not {value!r}", where, key=var)
    paths = host_vars.get(VERIFY_PATHS_VAR)
    if paths is None:
        return
    if not isinstance(paths, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith("/") and not any(c.isspace() for c in v)
            for k, v in paths.items()):
        raise InputError(f"host {host}: must map app names to URL paths starting with /, not {paths!r}", where,
                         key=VERIFY_PATHS_VAR)
