"""Several gunicorn apps on one host: every master is an app, named by its manager (pure).

An app's name comes from whoever runs it, so it is the same before and after a restart (a new
master pid): the supervisor program (`group:program` inside a group), the systemd unit, the
compose `project/service`, a plain container's name, else the address the master listens on
(from its own sockets in /proc). The inventory chooses apps by these names
(`remediation_apps`, `remediation_skip_apps`, `--app`); see docs/apps.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from remediation.errors import InputError, NoSingleMaster

if TYPE_CHECKING:
    from remediation.model import GunicornMaster, HostFacts

SELECT_VAR = "remediation_apps"
SKIP_VAR = "remediation_skip_apps"
VERIFY_PATHS_VAR = "remediation_verify_paths"


def base_name(master: "GunicornMaster") -> str:
    """The name the app's manager gives it (before duplicates are told apart)."""
    method = master.restart
    if method.kind == "supervisor" and method.program:
        return method.program
    if method.kind == "systemd" and method.program:
        return method.program
    if method.kind == "docker-compose" and method.program:
        return f"{method.project}/{method.program}" if method.project else method.program
    if method.container:
        return f"container:{method.container[:12]}"
    if master.listen:
        return master.listen[0]
    return f"gunicorn-pid-{master.pid}"


def named(masters: list["GunicornMaster"]) -> dict[str, "GunicornMaster"]:
    """Every master by its app name, in pid order; two masters under one name (a scaled compose
    service) are told apart by their listening address, else their pid."""
    out: dict[str, "GunicornMaster"] = {}
    bases = [base_name(m) for m in masters]
    for master, base in zip(masters, bases, strict=True):
        name = base
        if bases.count(base) > 1:
            name = f"{base}@{master.listen[0]}" if master.listen else f"{base}@pid-{master.pid}"
        out[name] = master
    return out


def matches(name: str, wanted: str) -> bool:
    """A name as the inventory may spell it: exactly, a systemd unit without `.service`, or a
    supervisor program without its group."""
    return wanted in (name, name.removesuffix(".service"), name.split(":", 1)[-1])


def master_of(facts: "HostFacts", app: str | None) -> "GunicornMaster":
    """The master of one app (None: the host's only one)."""
    if not facts.masters:
        raise NoSingleMaster("no gunicorn master process found in the process table")
    by_name = named(facts.masters)
    if app is None:
        if len(by_name) > 1:
            raise NoSingleMaster(f"{len(by_name)} gunicorn apps run here ({', '.join(by_name)}): name one "
                                 "(--app NAME, or the inventory var remediation_apps)")
        return facts.masters[0]
    found = [m for name, m in by_name.items() if matches(name, app)]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise NoSingleMaster(f"{what} gunicorn app named {app!r} runs here (apps: {', '.join(by_name) or 'none'})")
    return found[0]


def name_of(facts: "HostFacts", master: "GunicornMaster") -> str:
    return next(name for name, m in named(facts.masters).items() if m is master)


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
        try:
            _names(host_vars.get(var), host, var)
        except InputError as exc:
            raise InputError(str(exc).split(": ", 1)[-1], where, key=var) from None
    paths = host_vars.get(VERIFY_PATHS_VAR)
    if paths is None:
        return
    if not isinstance(paths, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith("/") and not any(c.isspace() for c in v)
            for k, v in paths.items()):
        raise InputError(f"host {host}: must map app names to URL paths starting with /, not {paths!r}", where,
                         key=VERIFY_PATHS_VAR)
