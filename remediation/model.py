"""Shared types: what the tool wants (Target), what it found on a host (GunicornMaster, its
RestartMethod, RemoteFile, AppView), and what a run did (Status, Stage, HostRun, FleetResult).

Data only: the parsing lives in facts/, the decisions in plan/ and verify/.
"""
from __future__ import annotations

import posixpath
import shlex
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Callable

from remediation.errors import HostUnreachable, NoSingleMaster


@dataclass(frozen=True)
class Target:
    """Values the tool converges every live gunicorn and DATABASES source to."""

    worker_class: str = "gthread"
    workers: int = 2
    threads: int = 8
    worker_connections: int = 1000
    conn_max_age: int = 600
    conn_health_checks: bool = True

    @classmethod
    def sync(cls) -> "Target":
        """The alternative target: sync workers, one thread each."""
        return cls(worker_class="sync", workers=4, threads=1)


class Status(StrEnum):
    """How one host's run ended (the strings are the JSON report's)."""

    PENDING = "pending"
    REMEDIATED = "remediated"
    UNCHANGED = "unchanged"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"

    @property
    def ok(self) -> bool:
        return self in (Status.REMEDIATED, Status.UNCHANGED)


FAILED_STATUSES = (Status.FAILED, Status.ROLLED_BACK, Status.UNREACHABLE, Status.REFUSED)
DONE_STATUSES = (Status.REMEDIATED, Status.UNCHANGED)


class Stage(StrEnum):
    """The stages of one host's flow, in order (journalled as they start)."""

    CONNECT = "connect"
    LOCK = "lock"
    INSPECT = "inspect"
    PLAN = "plan"
    PREFLIGHT = "preflight"
    DRAIN = "drain"
    BASELINE = "baseline"
    APPLY = "apply"
    CHECK_CONFIG = "check-config"
    BASELINE_WAIT = "baseline-wait"
    RESTART = "restart"
    VERIFY = "verify"
    ROLLBACK = "rollback"
    READY = "ready"
    DONE = "done"


@dataclass
class Worker:
    pid: int
    threads: int
    started: float | None = None  # when it started (/proc/PID/stat), None when not known


@dataclass
class RestartMethod:
    """Who runs gunicorn and how to restart it: a kind the managers/ registry knows."""

    kind: str  # a manager's KIND ("supervisor", "docker-compose", "systemd"), "docker" or "unknown"
    program: str | None = None  # supervisor program / compose service / systemd unit
    config_files: list[str] = field(default_factory=list)  # the manager's own files (host paths)
    project: str | None = None
    working_dir: str | None = None
    container: str | None = None
    cli: list[str] = field(default_factory=list)  # compose CLI argv prefix
    code: str | None = None  # containers: "mounted", "baked-build" or "pulled" (facts/compose_build.py)
    build_context: str | None = None  # baked-build: the host path of the service's build context
    image: str | None = None  # the image name the container was created from (`docker inspect` Config.Image)
    image_id: str | None = None  # the image id it runs (`docker inspect` Image)
    # where the manager itself says the process's output goes (supervisord's getProcessInfo:
    # stdout_logfile, stderr_logfile, AUTO names resolved); None when it could not be asked
    log_files: dict | None = None
    # how systemd itself loads the unit (`systemctl show`: fragment, drop-ins, environment files)
    systemd: dict | None = None
    # how the engine stops the container (`docker inspect` Config.StopSignal, StopTimeout); None: not asked
    stop: dict | None = None
    # compose: the env files given to `--env-file` (com.docker.compose.project.environment_file), host paths
    env_files: list[str] = field(default_factory=list)
    # files the manager itself reads when it (re)creates the process (compose: env_file:, .env)
    manager_reads: list[str] = field(default_factory=list)


@dataclass
class Mount:
    source: str
    destination: str
    rw: bool = True


@dataclass
class GunicornMaster:
    pid: int
    argv: list[str]
    user: str
    uid: int
    cwd: str | None
    exe: str | None
    env: dict[str, str]
    workers: list[Worker]
    restart: RestartMethod
    mounts: list[Mount] = field(default_factory=list)
    args_from: int | None = None  # where gunicorn's own arguments start in argv (the agent decides)
    # every variable name in the process's environment (no values); None when not known
    env_names: frozenset[str] | None = None
    # a baked image built on the host: container path -> host path in the build context, or None
    build_map: Callable[[str], str | None] | None = field(default=None, repr=False, compare=False)
    nspid: int | None = None  # its pid inside its own pid namespace (a container's), as its log names it
    started: float | None = None  # when it started (epoch seconds, the host's clock, /proc/PID/stat)
    listen: list[str] = field(default_factory=list)  # TCP addresses its own sockets listen on (/proc)
    published: dict[int, int] = field(default_factory=dict)  # a container's published ports: its port -> the host's

    def loaded_at(self, recycles: bool) -> float | None:
        """When the running gunicorn last read its config and settings: its start, or a later
        HUP, after which every worker is newer (gunicorn's Arbiter.reload spawns a new generation).
        Workers recycled without a reload (`max_requests`) re-read the settings but not the config,
        so with `recycles` only the master's start counts. None when its start time is unknown."""
        if self.started is None:
            return None
        starts = [w.started for w in self.workers]
        if recycles or not starts or any(s is None for s in starts):
            return self.started
        return max(self.started, min(s for s in starts if s is not None))

    @property
    def gunicorn_argv(self) -> list[str]:
        """argv from the gunicorn word on (drops a leading interpreter or `-m gunicorn`)."""
        if self.args_from is None:
            return list(self.argv)
        return ["gunicorn", *self.argv[self.args_from:]]

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    @property
    def in_container(self) -> bool:
        return self.restart.container is not None

    def host_path(self, path: str) -> str | None:
        """Map a path as the process sees it to the host's path (through a mount, else through the
        build context of a baked image); None when it is inside an image."""
        if not self.in_container:
            return path
        best = None
        for mount in self.mounts:
            dest = mount.destination.rstrip("/") or "/"
            if path == dest or path.startswith(dest + "/"):
                if best is None or len(dest) > len(best.destination.rstrip("/")):
                    best = mount
        if best is None:
            return self.build_map(path) if self.build_map is not None else None
        rest = path[len(best.destination.rstrip("/")):]
        return best.source.rstrip("/") + rest


@dataclass
class HostFacts:
    hostname: str
    masters: list[GunicornMaster]
    compose_clis: dict[str, str]
    python: str

    def master(self, app: str | None = None) -> GunicornMaster:
        """The master of one app (named below; chosen in apps.py); None: the host's only one."""
        return master_of(self, app)


# -- several apps on one host: each master is an app, named by its manager (apps.py chooses) --------

def app_base_name(master: GunicornMaster) -> str:
    """The name the app's manager gives it (before duplicates are told apart)."""
    method = master.restart
    if method.program:  # the manager's name for it: program, unit, compose project/service, podman container
        return f"{method.project}/{method.program}" if method.kind == "docker-compose" and method.project else method.program
    if method.container:
        return f"container:{method.container[:12]}"
    if master.listen:
        return master.listen[0]
    return f"gunicorn-pid-{master.pid}"


def app_names(masters: list[GunicornMaster]) -> dict[str, GunicornMaster]:
    """Every master by its app name, in pid order; two masters under one name (a scaled compose
    service) are told apart by their listening address, else (no address, or the same one in two
    network namespaces) by their pid. Every master gets a name of its own."""
    bases = [app_base_name(m) for m in masters]
    names = [base if bases.count(base) == 1 else f"{base}@{m.listen[0]}" if m.listen else f"{base}@pid-{m.pid}"
             for m, base in zip(masters, bases, strict=True)]
    return {(f"{base}@pid-{m.pid}" if names.count(name) > 1 else name): m
            for m, base, name in zip(masters, bases, names, strict=True)}


def matches(name: str, wanted: str) -> bool:
    """A name as the inventory may spell it: exactly, a systemd unit without `.service`, a
    supervisor program without its group, a compose service without its project, or a template
    unit's instance (`blue` of `app@blue.service`)."""
    unit = name.removesuffix(".service")
    instance = unit.split("@", 1)[1] if name.endswith(".service") and "@" in unit else None
    return wanted in (name, unit, name.split(":", 1)[-1], name.split("/", 1)[-1], instance)


def master_of(facts: HostFacts, app: str | None) -> GunicornMaster:
    """The master of one app (None: the host's only one)."""
    if not facts.masters:
        raise NoSingleMaster("no gunicorn master process found in the process table")
    by_name = app_names(facts.masters)
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


def name_of(facts: HostFacts, master: GunicornMaster) -> str:
    return next(name for name, m in app_names(facts.masters).items() if m is master)


@dataclass
class RemoteFile:
    path: str  # absolute path on the host
    content: bytes | None
    sha256: str | None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    error: str | None = None
    symlink: bool = False
    realpath: str | None = None
    mtime: float | None = None  # when it was last written (the host's clock)

    @property
    def text(self) -> str | None:
        if self.content is None:
            return None
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass
class AppView:
    """The app's own view of its settings: gunicorn's effective config and Django's DATABASES
    as their own loaders produce them on the host (agent `introspect`), plus the DB server."""

    gunicorn: dict = field(default_factory=dict)
    databases: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    db_server: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # whatever else the snippet reported

    @classmethod
    def from_json(cls, data: dict | None) -> "AppView":
        data = dict(data or {})
        known: dict[str, Any] = {k: data.pop(k) or default for k, default in (("gunicorn", {}), ("databases", {}), ("versions", {}),
                                                              ("db_server", {}), ("errors", [])) if k in data}
        fields: dict[str, Any] = {k: (list(v) if k == "errors" else dict(v)) for k, v in known.items()}
        return cls(**fields, extra=data)

    def as_json(self) -> dict:
        return {**self.extra, "gunicorn": self.gunicorn, "databases": self.databases, "versions": self.versions,
                "db_server": self.db_server, "errors": self.errors}


@dataclass
class HostRun:
    """One host's run: how it ended, where, and what it measured and changed."""

    name: str
    status: Status = Status.PENDING
    stage: str = Stage.CONNECT
    before: dict | None = None
    after: dict | None = None
    changes: list[dict] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    diff: str = ""
    restart_commands: list[str] = field(default_factory=list)
    # the gentlest restart chosen (plan/restart_kind.py: kind, reason) and the kind that applied it
    restart_kind: dict | None = None
    seconds: float = 0.0
    app: str | None = None  # one app's run (apps.py); None: the host's
    apps: dict[str, dict] = field(default_factory=dict)  # the host's: each chosen app's run (as_json)
    skipped: dict[str, str] = field(default_factory=dict)  # the host's: apps left alone, and why
    shared: list[dict] = field(default_factory=list)  # files a neighbour app also loads (see docs/apps.md)

    def as_json(self) -> dict:
        from remediation.redact import redact

        out = asdict(self)
        out["status"], out["stage"] = str(self.status), str(self.stage)
        out["diff"] = redact(self.diff)
        out["error"] = redact(self.error) if self.error else None
        return out


class Outcome(StrEnum):
    """How a fleet operation (rollback) ended on one host."""

    DONE = "done"
    NOTHING = "nothing"
    FAILED = "failed"


@dataclass
class HostOutcome:
    host: str
    outcome: Outcome
    detail: str = ""  # what was done, or why it failed (one line, redacted)
    error: type[BaseException] | None = None  # what it failed with: decisions read this, not `detail`

    @property
    def unreachable(self) -> bool:
        """Failed because the host could not be reached or logged in to."""
        return self.error is not None and issubclass(self.error, HostUnreachable)

    def line(self) -> str:
        return {Outcome.DONE: "rolled back", Outcome.NOTHING: "nothing to roll back",
                Outcome.FAILED: "FAILED"}[self.outcome] + (f": {self.detail}" if self.detail else "")


@dataclass
class FleetResult:
    """Per-host outcomes of a fleet operation, successes and failures side by side."""

    outcomes: dict[str, HostOutcome] = field(default_factory=dict)

    def add(self, outcome: HostOutcome) -> None:
        self.outcomes[outcome.host] = outcome

    @property
    def succeeded(self) -> list[HostOutcome]:
        return [o for o in self.outcomes.values() if o.outcome != Outcome.FAILED]

    @property
    def failed(self) -> list[HostOutcome]:
        return [o for o in self.outcomes.values() if o.outcome == Outcome.FAILED]

    def update(self, other: "FleetResult") -> None:
        self.outcomes.update(other.outcomes)

    def as_json(self) -> dict:
        return {name: {"outcome": str(o.outcome), "detail": o.detail, "line": o.line()}
                for name, o in sorted(self.outcomes.items())}


def join_host_path(cwd: str | None, path: str) -> str:
    """A path as a process with working directory `cwd` resolves it."""
    return posixpath.normpath(posixpath.join(cwd or "/", path))
