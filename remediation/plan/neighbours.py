"""Files one app's fix shares with the other gunicorn apps of its host (docs/apps.md).

A neighbour loads a file when it is its manager's own file (one supervisor file with two
programs, one compose file with two services, a template unit of two instances), its gunicorn
config, or a settings module its own loader reports loading. The rule, decided once here:

- a manager file shared by sections: the change must leave the neighbour's part (its
  [program:x] section, its compose service) exactly as it was; else refused;
- any other shared file (settings module, gunicorn config, unit, environment file): the
  neighbour is not restarted, but it loads the file at its next restart. Refused when that
  would change its worker settings (its capacity is its owner's choice) or give an
  async (gevent/eventlet) neighbour persistent connections (the leak); allowed and reported
  (`shared` in the report, a warning) when it only gives a threaded or sync neighbour the
  connection settings, or changes nothing it runs; a neighbour chosen in the same run
  (fixed right after) is reported only.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass, field

import yaml

from remediation import apps, managers
from remediation.discovery.model import DB_SETTINGS, GUNICORN_SETTINGS
from remediation.discovery.worker_classes import WorkerKind, classify
from remediation.errors import RemediationError
from remediation.facts.gather import introspect_op, parse_introspection
from remediation.facts.parse import config_file
from remediation.model import AppView, GunicornMaster, HostFacts, RemoteFile
from remediation.plan.inspection import Inspection


@dataclass
class Neighbour:
    name: str
    master: GunicornMaster
    view: AppView | None  # its own loader's view (None when it could not be run)
    files: set[str] = field(default_factory=set)  # host paths it loads
    manager_files: set[str] = field(default_factory=set)  # of those, its manager's own


def loaded_files(master: GunicornMaster, view: AppView | None,
                 read_files: dict[str, RemoteFile] | None = None) -> tuple[set[str], set[str]]:
    """Host paths a master loads (its manager's files, its gunicorn config, its settings), and
    which of them are its manager's; `read_files`: files read from the host, where a supervisor
    program's own section is found (supervisord reads it from any file its config includes)."""
    method = master.restart
    owned = set(managers.of(method).files(method))
    part = _section_of(method, "")
    if part is not None and part[0] == "ini":
        owned |= {path for path, f in (read_files or {}).items() if f"[{part[1]}]" in (f.text or "")}
    paths = set(owned)
    config, _how = config_file(master)
    if config:
        paths.add(master.host_path(config) or config)
    loaded = ((view.extra.get("settings_module") or {}).get("loaded") if view is not None else None) or []
    paths |= {p for p in (master.host_path(x) for x in loaded) if p}
    return paths, owned


def read(remote, facts: HostFacts, me: str, read_files: dict[str, RemoteFile] | None = None) -> list[Neighbour]:
    """Every other app of the host with its own loader's view (one round trip, none without one)."""
    others = [(name, m) for name, m in apps.named(facts.masters).items() if name != me]
    if not others:
        return []
    replies = [envelope.data for envelope in
               remote.call(*[introspect_op(m, want_db=False) for _name, m in others], parallel=True)]
    out = []
    for (name, master), reply in zip(others, replies, strict=True):
        try:
            view: AppView | None = parse_introspection(reply)
        except RemediationError:
            view = None
        files, owned = loaded_files(master, view, read_files)
        out.append(Neighbour(name, master, view, files, owned))
    return out


def _section_of(method, path: str) -> tuple[str, str] | None:
    """The part of a manager file that is an app's: ("ini", section) or ("compose", service)."""
    if method.kind == "supervisor" and method.program:
        return ("ini", "program:" + method.program.split(":")[-1])
    if method.kind == "docker-compose" and method.program and path.endswith((".yml", ".yaml")):
        return ("compose", method.program)
    return None


def part_unchanged(kind: str, part: str, old: str, new: str) -> bool:
    """Whether `part` (an INI section, a compose service) reads the same before and after (pure)."""
    if kind == "ini":
        before, after = configparser.RawConfigParser(), configparser.RawConfigParser()
        before.read_string(old)
        after.read_string(new)
        if not before.has_section(part):
            return not after.has_section(part)
        return after.has_section(part) and dict(before.items(part)) == dict(after.items(part))
    services = [((yaml.safe_load(text) or {}).get("services") or {}).get(part) for text in (old, new)]
    return services[0] == services[1]


def _effects(ins: Inspection, path: str, view: AppView | None) -> tuple[list[str], list[str]]:
    """What the plan's changes to `path` set (settings), and which differ from what the neighbour runs."""
    rel = path.lstrip("/")
    changes = [(f.setting, f.proposed) for f in ins.audit.findings if f.action == "patch" and f.file == rel]
    runs: dict = {}
    if view is not None:
        runs = dict(view.gunicorn or {})
        for db in (view.databases or {}).values():
            runs.update({k: db.get(k) for k in DB_SETTINGS})
    differ = [s for s, proposed in changes if view is None or str(runs.get(s)) != str(proposed)]
    return [s for s, _p in changes], differ


def check(ins: Inspection, neighbours: list[Neighbour], chosen_later: set[str]) -> tuple[list[dict], list[str]]:
    """(the shared files, one row per neighbour; why the change must not land) for the plan's files."""
    shared, blockers = [], []
    blockers += group_restart(ins, neighbours)
    for path in ins.patched_paths():
        for nb in neighbours:
            if path not in nb.files:
                continue
            old = ins.gathered.files[path].text or ""
            new = ins.audit.patched[path.lstrip("/")]
            part = _section_of(nb.master.restart, path) if path in nb.manager_files else None
            row = {"path": path, "neighbour": nb.name, "restarted": False}
            if part is not None:
                row["part"] = f"{part[1]} left as it was"
                if not part_unchanged(part[0], part[1], old, new):
                    blockers.append(f"{path} is also {nb.name}'s: the change would alter its {part[1]}")
                shared.append(row)
                continue
            _sets, differ = _effects(ins, path, nb.view)
            row["changes_for_neighbour"] = differ
            shared.append(row)
            if not differ or nb.name in chosen_later:
                continue
            kind = classify(str((nb.view.gunicorn or {}).get("effective_worker_class")
                                or (nb.view.gunicorn or {}).get("worker_class"))) if nb.view else None
            worker = [s for s in differ if s in GUNICORN_SETTINGS]
            if worker or nb.view is None:
                blockers.append(f"{path} is also loaded by {nb.name}: the change would alter its "
                                f"{', '.join(worker) or 'settings'} at its next restart (choose it too, or split the file)")
            elif kind == WorkerKind.GEVENT and "CONN_MAX_AGE" in differ:
                blockers.append(f"{path} is also loaded by {nb.name}, which runs an async worker: persistent "
                                "connections there would leak at its next restart (fix it first, or split the file)")
    return shared, blockers


def group_restart(ins: Inspection, neighbours: list[Neighbour]) -> list[str]:
    """A supervisor program in a group of several whose own file changes is applied by
    `supervisorctl update GROUP`, which restarts every program of the group: refused when
    another app runs in that group."""
    method = ins.gathered.master.restart
    if method.kind != "supervisor" or not method.program or ":" not in method.program:
        return []
    group = method.program.split(":", 1)[0]
    manager = managers.of(method)
    if not any(manager.owns_file(method, path) for path in ins.patched_paths()):
        return []
    mates = [nb.name for nb in neighbours if nb.master.restart.kind == "supervisor"
             and (nb.master.restart.program or "").startswith(group + ":")]
    return [f"the change is to supervisor program {method.program}'s own file, and `supervisorctl update {group}` "
            f"would restart every program of group {group} ({', '.join(mates)} too)"] if mates else []


def describe(row: dict) -> str:
    """One warning line for a shared file."""
    if "part" in row:
        return f"{row['path']} is shared with {row['neighbour']} ({row['part']}); it was not restarted"
    what = ", ".join(row.get("changes_for_neighbour") or []) or "nothing it runs"
    return (f"{row['path']} is also loaded by {row['neighbour']} (not restarted): at its next restart it loads "
            f"the change ({what})")

