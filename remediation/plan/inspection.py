"""What one host runs, resolved: effective gunicorn settings with their sources, Django
DATABASES per alias, restart method, versions and the DB budget (pure, from Gathered)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from remediation import managers
from remediation.discovery import AuditResult, Hints, audit_files
from remediation.discovery.env_override import new_dropin
from remediation.discovery.model import GUNICORN_SETTINGS, ComposeProject, EnvOverride, FindingCode, SystemdUnit
from remediation.discovery.sources.supervisor import PROGRAM_PREFIXES
from remediation.discovery.sources.systemd import unit_specifiers
from remediation.managers.compose.controller import project_env_files
from remediation.managers.systemd import env_files, unit_files
from remediation.discovery.tree import Tree
from remediation.discovery.worker_classes import gevent_code
from remediation.facts import baked
from remediation.facts.gather import Gathered
from remediation.facts.parse import config_file
from remediation.model import RemoteFile, RestartMethod
from remediation.model import Target

USING_WORKER = re.compile(r"Using worker: (\S+)")

def rel(path: str) -> str:
    """Host path -> the relative key the discovery code uses (the tree is rooted at /)."""
    return path.lstrip("/")


def absolute(rel_path: str) -> str:
    """The discovery code's relative key -> the host path (the inverse of rel)."""
    return "/" + rel_path.lstrip("/")


def systemd_unit(gathered: Gathered) -> SystemdUnit | None:
    """The live unit as systemd loads it (managers/systemd/), for the discovery code."""
    method = gathered.master.restart
    files = unit_files(method)
    if method.kind != "systemd" or not files or not method.program:
        return None
    specifiers = unit_specifiers(method.program, gathered.facts.hostname)
    loaded = tuple(rel(p) for p in files)
    created = new_dropin(method.program, loaded)  # read with the unit once a patch creates it: applied last
    absent = tuple(p for p in env_files(method) if (f := gathered.files.get(p)) is not None and f.error == "missing")
    return SystemdUnit(method.program, loaded + ((created,) if created else ()), tuple(sorted(specifiers.items())),
                       absent)


def env_override(gathered: Gathered) -> EnvOverride | None:
    """Where the manager gives the process an environment of its own: the compose service in its
    compose files, the supervisor program in the read files that define its section, the systemd
    unit's files as systemd loads them."""
    method = gathered.master.restart
    if not method.program:
        return None
    if method.kind == "docker-compose":
        return EnvOverride("compose", method.program, tuple(rel(p) for p in method.config_files))
    if method.kind == "supervisor":
        name = method.program.split(":")[-1]
        files = tuple(rel(p) for p, f in sorted(gathered.files.items())
                      if f.text and any(f"[{prefix}{name}]" in f.text for prefix in PROGRAM_PREFIXES))
        return EnvOverride("supervisor", name, files)
    unit = systemd_unit(gathered)
    if unit is not None:
        loaded = tuple(rel(p) for p in unit_files(method))  # as systemd loads it now
        return EnvOverride("systemd", unit.name, loaded, create=new_dropin(unit.name, loaded))
    return None


def compose_project(method: RestartMethod) -> ComposeProject | None:
    """The live compose project as its labels name it (managers/compose/), for the discovery code."""
    if method.kind != "docker-compose" or not method.working_dir:
        return None
    return ComposeProject(rel(method.working_dir), tuple(rel(p) for p in method.config_files),
                          tuple(rel(p) for p in project_env_files(method)))


def hints_for(gathered: Gathered) -> Hints:
    master = gathered.master
    cwd = master.host_path(master.cwd) if master.cwd else None
    config, how = config_file(master)
    host_config = master.host_path(config) if config else None
    read = gathered.files.get(host_config) if host_config else None
    if how.startswith("default") and read is not None and read.error == "missing":
        host_config = None  # gunicorn loads ./gunicorn.conf.py only when it exists: its defaults rule
    view = gathered.introspection
    loaded = (view.extra.get("settings_module") or {}).get("loaded")
    if loaded is not None:  # as the process sees them: container paths map to the host's
        loaded = tuple(rel(p) for p in (master.host_path(path) for path in loaded) if p)
    return Hints(command=master.command, cwd=rel(cwd) if cwd else None, systemd_unit=systemd_unit(gathered),
                 config_path=rel(host_config) if host_config else None,
                 settings_module=gathered.settings_module, env=dict(master.env), env_names=master.env_names,
                 versions={k: v for k, v in view.versions.items() if k in ("django", "dj_database_url")},
                 loaded_settings=loaded or None, env_override=env_override(gathered),
                 compose_project=compose_project(master.restart))


def discovery_files(gathered: Gathered) -> dict[str, str | bytes]:
    """Fetched files as the discovery code takes them (bytes when not UTF-8, so it can report)."""
    out: dict[str, str | bytes] = {}
    for path, remote_file in gathered.files.items():
        if remote_file.content is not None:
            out[rel(path)] = remote_file.text if remote_file.text is not None else remote_file.content
    return out


@dataclass
class Inspection:
    host: str
    gathered: Gathered
    audit: AuditResult
    target: Target
    # files a neighbour app's fix wrote in this run without changing what this app loads from them
    # (its own section of a shared manager file): their new mtimes say nothing about this app
    unchanged_for_me: frozenset[str] = frozenset()

    @classmethod
    def build(cls, host: str, gathered: Gathered, target: Target) -> "Inspection":
        return cls(host, gathered, audit_files(discovery_files(gathered), target, hints_for(gathered)), target)

    @property
    def gunicorn(self) -> dict:
        return self.gathered.introspection.gunicorn

    def effective(self) -> dict:
        g = self.gunicorn
        return {key: g.get(key) for key in GUNICORN_SETTINGS}

    def written_since_start(self) -> list[str] | None:
        """Files that set the app's settings (the audit's sources) written after the running master
        started (/proc's start time, with a 2 s margin for its whole-second boot time): the running
        process cannot be running them. None when the start time or an mtime is unknown."""
        master = self.gathered.master
        # a HUP re-reads the config and settings (the last reload counts for them); the manager's
        # own files (command line, environment) only a new master reads
        started = master.started
        reloaded = master.loaded_at(recycles=bool(self.gunicorn.get("max_requests", 1)))
        if started is None or reloaded is None:
            return None
        manager = managers.of(master.restart)
        paths = sorted({absolute(f.file) for f in self.audit.findings if not f.file.startswith("<")}
                       - self.unchanged_for_me)
        times = [(p, self.gathered.files[p].mtime) for p in paths if p in self.gathered.files]
        known = [(p, mtime) for p, mtime in times if mtime is not None]
        if len(known) < len(times):
            return None
        return [p for p, mtime in known
                if mtime > (started if manager.owns_file(master.restart, p) else reloaded) + 2]

    def running_worker(self) -> str | None:
        """The worker class the last gunicorn start logged (`Using worker: X`): shown, and decides
        nothing where the process can answer (written_since_start)."""
        found = USING_WORKER.findall(self.gathered.logs or "")
        return found[-1] if found else None

    def sources(self) -> list[dict]:
        rows = []
        for f in self.audit.findings:
            rows.append({"setting": f.setting, "file": f.file if f.file.startswith("<") else absolute(f.file),
                         "line": f.line, "value": f.current, "proposed": f.proposed, "action": f.action,
                         "reason": f.reason})
        return rows

    def databases(self) -> dict:
        dbs = {}
        for alias, db in self.gathered.introspection.databases.items():
            where = [s for s in self.sources() if s["setting"] in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")]
            dbs[alias] = {
                "ENGINE": db.get("ENGINE"), "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
                "CONN_HEALTH_CHECKS": db.get("CONN_HEALTH_CHECKS"), "pool": db.get("pool"),
                "defaulted": list(db.get("defaulted") or []),  # absent from the settings: Django's default runs
                "source": "; ".join(sorted({f"{s['file']}:{s['line']}" if s["line"] else s["file"]
                                            for s in where if s["action"] != "report" or s["value"]})) or None,
            }
        return dbs

    def restart(self) -> str:
        return self.gathered.master.restart.kind

    def versions(self) -> dict:
        return dict(self.gathered.introspection.versions)

    def db_server(self) -> dict:
        return dict(self.gathered.introspection.db_server)

    def gevent_code(self) -> list[str]:
        """gevent-specific code in the files read from the app (monkey-patching, psycogreen...)."""
        found = []
        for path, remote_file in self.gathered.files.items():
            found += [f"{what} at {path}:{number}" for number, what in gevent_code(remote_file.text or "")]
        return found

    def as_json(self) -> dict:
        master = self.gathered.master
        return {
            "host": self.host,
            "effective": self.effective(),
            "running_worker": self.running_worker(),
            "sources": self.sources(),
            "databases": self.databases(),
            "restart": self.restart(),
            "restart_detail": {"program": master.restart.program, "config_files": master.restart.config_files,
                               "container": master.restart.container, "code": master.restart.code,
                               "build_context": master.restart.build_context, "image": master.restart.image,
                               "image_id": master.restart.image_id},
            "versions": self.versions(),
            "db_server": self.db_server(),
            "process": {"master_pid": master.pid, "user": master.user, "command": master.command,
                        "cwd": master.cwd,
                        "workers": [{"pid": w.pid, "threads": w.threads} for w in master.workers]},
            "settings_module": self.gathered.settings_module,
            "settings_module_source": self.gathered.settings_module_source,
            "env": {k: v for k, v in master.env.items() if k in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY",
                                                                   "DJANGO_SETTINGS_MODULE")},
            "errors": list(self.gathered.introspection.errors),
        }

    def blockers(self) -> list[str]:
        """Why the files cannot be patched safely, one line each naming the file: a file that decides
        the settings could not be read (too large for the agent, not UTF-8, binary, unreadable), or a
        file the plan would change is a symlink (the change would land wherever it points)."""
        out = []
        for path, remote_file in sorted(self.gathered.files.items()):
            # the names the discovery itself reports unreadable files for (not e.g. a huge urls.py)
            if remote_file.error and remote_file.error != "missing" and Tree._candidate_name(path):
                out.append(f"{path}: cannot read: {remote_file.error}")
        out += [f"/{f.file}: {f.reason}" for f in self.audit.findings
                if f.action == "report" and f.code == FindingCode.UNREADABLE]
        for rel_path in sorted(self.audit.patched):
            patched = self.gathered.files.get(absolute(rel_path))
            if patched is not None and patched.symlink:
                out.append(f"/{rel_path} is a symlink (to {patched.realpath}): refusing to patch through it")
        g = self.gathered
        out += baked.blockers(g.baked, g.master, self.patched_paths(), g.baked_needed)
        return list(dict.fromkeys(out))

    def file(self, rel_path: str) -> RemoteFile:
        return self.gathered.files[absolute(rel_path)]

    def patched_paths(self) -> list[str]:
        """Host paths of the files the plan changes, sorted."""
        return sorted(absolute(p) for p in self.audit.patched)
