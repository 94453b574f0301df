"""The gentlest restart that applies a change (pure): HUP to the running master, or the manager's
restart with a graceful stop.

What a HUP re-reads (gunicorn's arbiter.py `Arbiter.reload`: `self.app.reload()` then
`self.setup(self.app)`, then new workers are spawned and the old ones stopped gracefully while
the master keeps its listening sockets):
- the config file the master loaded, run again (`app/base.py` `get_config_from_filename`): a
  `-c python:MODULE` config is `importlib.import_module`, cached in `sys.modules`, never re-read;
- the command line (`parser.parse_args()` on the same `sys.argv`) and the process environment
  (`GUNICORN_CMD_ARGS`, the manager's environment) do not change on HUP;
- the app: each new worker imports it after the fork, so Django's settings are read anew, unless
  the master imported it itself (`preload_app` / `--preload`: the workers inherit its settings).

A worker class switch from gevent by HUP was proven on a real gunicorn (27.0.1, gevent 26.9):
the master imports `gunicorn.workers.ggevent` (and gevent) but patches nothing (`patch()` runs
in the worker's `init_process`), so gthread workers forked after the HUP run unpatched threading
(thread pools, thread-locals kept per thread; 0 of 160 requests failed under 4 clients). A master
whose config file itself monkey-patches (`monkey.patch_all()` at the top of gunicorn.conf.py, a
common gevent recipe) stops handling HUP once patched: neither that config nor any gevent-specific
code in it is reloaded by HUP here (docs/benchmarks.md, "HUP and the worker class").
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from remediation.discovery.worker_classes import GEVENT_LIKE, GTHREAD, SYNC, WorkerKind, classify, gevent_code
from remediation.model import Target

if TYPE_CHECKING:
    from remediation.plan.inspection import Inspection


class RestartKind(StrEnum):
    """How the change is applied to the running app."""

    RELOAD_HUP = "reload-hup"  # SIGHUP to the running master: new workers, same master and sockets
    MANAGER_RESTART = "manager-restart"  # the manager stops (gracefully) and starts gunicorn


class KindReason(StrEnum):
    """Why that kind: the one fact that decided it (the first that rules out a HUP)."""

    RELOADED_FILES = "reloaded-files"  # every changed file is re-read on HUP (config file, settings)
    NOTHING_CHANGES = "nothing-changes"  # no file to apply: nothing decides against a HUP
    COMMAND_LINE = "command-line"  # a changed file holds the command line (the manager's own file)
    ENVIRONMENT = "environment"  # a changed file sets the process environment (EnvironmentFile=, env)
    BAKED_IMAGE = "baked-image"  # the change is built into a new image: only a new container runs it
    CONFIG_MODULE = "config-module"  # `-c python:MODULE`: imported once, cached, never re-read
    PRELOADED_APP = "preloaded-app"  # settings change but the master imported the app (preload_app)
    PRELOAD_UNKNOWN = "preload-unknown"  # the app's view does not say whether it is preloaded
    MASTER_GEVENT_CODE = "master-gevent-code"  # the config the master ran has gevent code (patching)
    UNPROVEN_SWITCH = "unproven-switch"  # a worker class switch not proven safe by HUP (eventlet...)
    OTHER_FILE = "other-file"  # a changed file a reload is not known to re-read
    UNKNOWN_CHANGES = "unknown-changes"  # only a restart is needed, but which files changed is not known
    NOT_RUNNING = "not-running"  # no live master to signal (fell back, or nothing runs)
    OPERATOR = "operator"  # the inventory says so (remediation_restart: manager)


@dataclass(frozen=True)
class RestartChoice:
    kind: RestartKind
    reason: KindReason
    detail: str = ""  # the words for people (the path or setting that decided)
    paths: tuple[str, ...] = ()  # the changed files the choice was made on

    def as_json(self) -> dict:
        return {"kind": str(self.kind), "reason": str(self.reason), "detail": self.detail, "paths": list(self.paths)}


@dataclass(frozen=True)
class ReloadFacts:
    """What the choice needs about the running master and the change (host paths throughout)."""

    changed: tuple[str, ...]  # the files the change writes (or wrote since the master started)
    config: str | None  # the gunicorn config file the master loads (host path), None: unknown
    config_how: str  # how it was found (facts/parse.config_file): "-c python:..." never re-reads
    config_text: str | None  # that file as the master ran it (before the change)
    settings: tuple[str, ...]  # the settings modules' files the app loads (host paths)
    manager_files: tuple[str, ...]  # the manager's own files (its program/unit/compose file)
    environment_files: tuple[str, ...] = ()  # files the manager loads into the environment
    baked_paths: tuple[str, ...] = ()  # changed files that only a rebuilt image applies
    preload_app: bool | None = None  # None: the app's view did not say
    worker_from: str | None = None  # the effective worker class the master runs now
    worker_to: str | None = None  # the class the change sets
    master_running: bool = True
    manager_only: bool = False  # the inventory asks for the manager's restart (remediation_restart)
    changes_known: bool = True  # False: the files written since the master started could not be told


def manager_restart(reason: KindReason, detail: str, changed: tuple[str, ...]) -> RestartChoice:
    return RestartChoice(RestartKind.MANAGER_RESTART, reason, detail, changed)


def choose(facts: ReloadFacts) -> RestartChoice:
    """HUP when every changed file is one the running master re-reads on reload and the switch
    is proven safe by HUP; else the manager's restart, with the first reason that rules HUP out."""
    changed = facts.changed
    if facts.manager_only:
        return manager_restart(KindReason.OPERATOR, "remediation_restart: manager", changed)
    if not facts.master_running:
        return manager_restart(KindReason.NOT_RUNNING, "no running master to signal", changed)
    if not facts.changes_known:
        return manager_restart(KindReason.UNKNOWN_CHANGES, "the files written since the master started are not "
                                                           "known (no start time or mtime)", changed)
    if facts.baked_paths:
        return manager_restart(KindReason.BAKED_IMAGE, ", ".join(facts.baked_paths), changed)
    env = [p for p in changed if p in facts.environment_files]
    if env:
        return manager_restart(KindReason.ENVIRONMENT, ", ".join(env), changed)
    command = [p for p in changed if p in facts.manager_files]
    if command:
        return manager_restart(KindReason.COMMAND_LINE, ", ".join(command), changed)
    config = [p for p in changed if p == facts.config]
    settings = [p for p in changed if p in facts.settings and p != facts.config]
    other = [p for p in changed if p not in config and p not in settings]
    if other:
        return manager_restart(KindReason.OTHER_FILE, ", ".join(other), changed)
    if config and facts.config_how.startswith("-c python:"):
        return manager_restart(KindReason.CONFIG_MODULE, f"{facts.config} ({facts.config_how})", changed)
    if settings and facts.preload_app is None:
        return manager_restart(KindReason.PRELOAD_UNKNOWN, ", ".join(settings), changed)
    if settings and facts.preload_app:
        return manager_restart(KindReason.PRELOADED_APP, ", ".join(settings), changed)
    ran = gevent_code(facts.config_text or "") if facts.config else []
    if ran:
        line, what = ran[0]
        return manager_restart(KindReason.MASTER_GEVENT_CODE, f"{facts.config}:{line}: {what}", changed)
    if not safe_switch(facts.worker_from, facts.worker_to):
        return manager_restart(KindReason.UNPROVEN_SWITCH, f"{facts.worker_from} -> {facts.worker_to}", changed)
    if not changed:
        return RestartChoice(RestartKind.RELOAD_HUP, KindReason.NOTHING_CHANGES, "", changed)
    return RestartChoice(RestartKind.RELOAD_HUP, KindReason.RELOADED_FILES, ", ".join(changed), changed)


# worker classes a HUP was proven to switch between on a real gunicorn, both ways: the master
# imports their modules and patches nothing (gevent's `patch()` runs in each worker)
HUP_SWITCHABLE = (GTHREAD | SYNC | GEVENT_LIKE) - {"eventlet", "egg:gunicorn#eventlet",
                                                    "gunicorn.workers.geventlet.EventletWorker"}


def safe_switch(worker_from: str | None, worker_to: str | None) -> bool:
    """A HUP may change the worker class from `worker_from` to `worker_to`: no switch, or one
    between gunicorn's built-in sync, gthread and gevent workers (eventlet's was never proven)."""
    if worker_from == worker_to or (worker_from and worker_to and classify(worker_from) == classify(worker_to)
                                    and classify(worker_from) in (WorkerKind.SYNC, WorkerKind.THREADED)):
        return True
    return worker_from in HUP_SWITCHABLE and worker_to in HUP_SWITCHABLE


def reload_facts(ins: "Inspection", target: Target, restart_only: bool = False,
                 host_vars: dict | None = None) -> ReloadFacts:
    """The facts `choose` needs, from one host's inspection: the changed files (those the plan
    patches, or those written since the master started when only a restart is needed), where the
    master's config and settings are, the manager's own files."""
    from remediation import managers
    from remediation.facts.parse import config_file
    from remediation.managers.compose import baked_change
    from remediation.managers.systemd import env_files

    gathered = ins.gathered
    master, method = gathered.master, gathered.master.restart
    written = ins.written_since_start() if restart_only else []
    changed = ins.patched_paths() if not restart_only else sorted(written or [])
    config, how = config_file(master)
    host_config = master.host_path(config) if config else None
    config_file_read = gathered.files.get(host_config) if host_config else None
    loaded = (gathered.introspection.extra.get("settings_module") or {}).get("loaded") or []
    settings = tuple(p for p in (master.host_path(path) for path in loaded) if p)
    manager = managers.of(method)
    owned = tuple(p for p in changed if manager.owns_file(method, p) and p not in settings and p != host_config)
    running = (ins.running_worker() if restart_only else None) or ins.gunicorn.get("effective_worker_class") \
        or ins.gunicorn.get("worker_class")
    return ReloadFacts(
        changed=tuple(changed), config=host_config, config_how=how,
        config_text=config_file_read.text if config_file_read else None, settings=settings,
        manager_files=owned, environment_files=tuple(env_files(method)) if method.kind == "systemd" else (),
        baked_paths=tuple(p for p in changed if baked_change(method, [p])),
        preload_app=ins.gunicorn.get("preload_app") if "preload_app" in ins.gunicorn else None,
        worker_from=running, worker_to=target.worker_class,
        master_running=bool(master.pid) and method.kind != "unknown",
        manager_only=(host_vars or {}).get("remediation_restart") == "manager", changes_known=written is not None)


def restart_plan(ins: "Inspection", choice: RestartChoice) -> dict:
    """The choice as `plan`, the run's report and the journal show it: the kind and its reason
    codes, and, for the manager's restart (a HUP's fallback included), what bounds its graceful stop."""
    from remediation import managers

    method = ins.gathered.master.restart
    graceful = ins.gunicorn.get("graceful_timeout")
    bounds = managers.of(method).stop_bounds(method, ins.gathered.files,
                                              float(graceful) if graceful is not None else None)
    return {**choice.as_json(), "stop": bounds.as_json()}
