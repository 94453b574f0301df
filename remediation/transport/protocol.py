"""The typed protocol to the host agent: one request dataclass and one reply type per op, one
envelope for every reply, and the typed calls the rest of the tool makes (AgentCalls).

Only transport/ builds the agent's op dicts (`Request.wire()`) and reads its raw replies
(`Envelope.of`); the flow, the CLI, apply, rollback, verify and facts call AgentCalls' methods on
a Remote. The wire format is the agent's (remediation/agent/core.py): a request is
{"ops": [{"op": NAME, ...fields}], "parallel": bool}, a reply {"replies": [...]}, one per op;
an op that raised answers {"agent_error": "Type: message"}.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypedDict, TypeVar, cast

from remediation.errors import RemoteError

# -- requests: one dataclass per op; a field left None is not sent (the agent's default applies)


@dataclass(frozen=True)
class Request:
    OP: ClassVar[str] = ""
    SENT_EVEN_IF_NONE: ClassVar[frozenset[str]] = frozenset()
    WIRE_NAMES: ClassVar[dict[str, str]] = {}

    def wire(self) -> dict[str, Any]:
        """The op dict the agent reads."""
        out: dict[str, Any] = {"op": self.OP}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None or f.name in self.SENT_EVEN_IF_NONE:
                out[self.WIRE_NAMES.get(f.name, f.name)] = value
        return out


@dataclass(frozen=True)
class Probe(Request):
    """The gunicorn masters of the host and what each manager's probe knows of them."""
    OP = "probe"


@dataclass(frozen=True)
class Read(Request):
    """Files (content and sha256, or sha256 alone), glob matches, directory listings."""
    OP = "read"
    paths: list[str] = field(default_factory=list)
    globs: list[str] | None = None
    list_dirs: list[str] | None = None
    sha_only: bool | None = None
    max_size: int | None = None


@dataclass(frozen=True)
class Write(Request):
    """Back up, write beside, validate, rename into place; refused if the file changed since planned."""
    OP = "write"
    path: str
    content: str  # base64
    expected_sha256: str
    backup_dir: str
    validate: str | None = None  # "python": the new text must compile
    python: str | None = None
    dry_run: bool | None = None


@dataclass(frozen=True)
class Create(Request):
    """A file that did not exist (and its missing directories): written beside, validated, renamed
    into place; refused if anything is at the path."""
    OP = "create"
    path: str
    content: str  # base64
    validate: str | None = None
    python: str | None = None
    dry_run: bool | None = None


@dataclass(frozen=True)
class Restore(Request):
    """Put originals back byte-identical (host backup, else the controller's copy)."""
    OP = "restore"
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Logs(Request):
    """The tail of each log source (or what was appended since an offset or a time)."""
    OP = "logs"
    sources: list[dict[str, Any]] = field(default_factory=list)
    bytes: int | None = None
    lines: int | None = None


@dataclass(frozen=True)
class Introspect(Request):
    """The introspection snippet under the app's own interpreter, environment, cwd and user."""
    OP = "introspect"
    SENT_EVEN_IF_NONE = frozenset({"cwd", "container"})
    pid: int
    uid: int
    python: str
    cwd: str | None
    container: str | None
    snippet: str
    args: list[str]
    env: dict[str, str]
    image_run: dict[str, Any] | None = None
    engine: str | None = None  # the container CLI for `container` (the manager's ENGINE); None: docker


@dataclass(frozen=True)
class Counters(Introspect):
    """The DB server's counters through a session the agent keeps; `view`: also the app's view."""
    OP = "counters"
    view: bool | None = None


@dataclass(frozen=True)
class RunCommand(Request):
    """A command run by the agent (as root), its output returned."""
    OP = "run"
    argv: list[str] = field(default_factory=list)
    timeout: float | None = None


@dataclass(frozen=True)
class Lock(Request):
    """Take the host's remediation lock (a lock of the same run is taken over)."""
    OP = "lock"
    run_id: str
    controller: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class Unlock(Request):
    """Release the lock this run holds, or any with `break_`."""
    OP = "unlock"
    WIRE_NAMES = {"break_": "break"}
    run_id: str | None = None
    break_: bool | None = None


@dataclass(frozen=True)
class SupervisorRestart(Request):
    """Restart a supervisor program through supervisord's XML-RPC socket, settled before and after."""
    OP = "supervisor_restart"
    config: str
    program: str | None
    timeout: float | None = None


@dataclass(frozen=True)
class TcpWatchStart(Request):
    """Start counting the workers' new TCP connections to the DB endpoints."""
    OP = "tcp_watch"
    id: str
    master: int
    endpoints: list[dict[str, Any]]
    interval_ms: int | None = None
    action: str = "start"


@dataclass(frozen=True)
class TcpWatchStop(Request):
    """Stop a watch and return what it saw."""
    OP = "tcp_watch"
    id: str
    action: str = "stop"


@dataclass(frozen=True)
class HupReload(Request):
    """SIGHUP to the master probed (its pid and /proc start time), then wait on the host for a new
    generation of workers (plan/restart_kind.py, verify/reload_proof.py)."""
    OP = "hup_reload"
    pid: int
    started: float
    want: int
    old: list[int] = field(default_factory=list)
    timeout: float | None = None


# -- replies: one type per op (the agent's JSON, typed)


class ProbeReply(TypedDict, total=False):
    hostname: str
    time: float
    masters: list[dict[str, Any]]
    python: str
    compose_clis: dict[str, str]


class ReadReply(TypedDict):
    files: list[dict[str, Any]]
    listings: dict[str, Any]


class WriteReply(TypedDict, total=False):
    ok: bool
    error: str
    stage: str
    backup: str
    dry_run: bool
    sha256_before: str
    sha256_after: str


class CreateReply(TypedDict, total=False):
    ok: bool
    error: str
    stage: str
    dry_run: bool
    created_dirs: list[str]  # the directories the create made, outermost first
    sha256_after: str


class RestoreReply(TypedDict):
    files: list[dict[str, Any]]


# logs: {"_offsets": {key: size}, "_time": epoch, key: text or {"error": ...}}
LogsReply = dict[str, Any]


class CommandReply(TypedDict):
    """run and introspect: the command's exit status and output."""
    rc: int
    stdout: str
    stderr: str


class CountersReply(TypedDict, total=False):
    fresh: bool
    errors: list[str]
    db_server: dict[str, Any]
    view: CommandReply


class LockReply(TypedDict, total=False):
    ok: bool
    held: bool
    holder: dict[str, Any]


class SupervisorRestartReply(TypedDict, total=False):
    ok: bool
    unavailable: bool
    state: str | None
    before: str
    error: str


class TcpWatchReply(TypedDict, total=False):
    ok: bool
    error: str
    endpoints: list[str]
    open_at_start: int
    new: int
    samples: int
    interval_ms: int
    connections: list[str]
    active_opens: int | None


class HupReloadReply(TypedDict, total=False):
    signalled: bool
    error: str
    sent: float
    now: float
    master_started: float | None
    old: list[int]
    workers: list[dict[str, Any]]  # pid, started, threads of each child of the master at the end


REPLY_TYPES: dict[type[Request], Any] = {
    Probe: ProbeReply, Read: ReadReply, Write: WriteReply, Create: CreateReply, Restore: RestoreReply, Logs: LogsReply,
    Introspect: CommandReply, Counters: CountersReply, RunCommand: CommandReply, Lock: LockReply,
    Unlock: LockReply, SupervisorRestart: SupervisorRestartReply, TcpWatchStart: TcpWatchReply,
    TcpWatchStop: TcpWatchReply, HupReload: HupReloadReply,
}

# -- the envelope

T = TypeVar("T")


@dataclass(frozen=True)
class Envelope(Generic[T]):
    """Every reply, whatever its op: ok, the error (the agent's exception, or the op's own
    refusal: a write that failed validation, a lock held by another run), and the op's data."""
    ok: bool
    error: str | None
    data: T

    @staticmethod
    def of(reply: dict[str, Any]) -> "Envelope[Any]":
        if "agent_error" in reply:
            return Envelope(False, str(reply["agent_error"]), {})
        error = reply.get("error")
        return Envelope(reply.get("ok", not error) is not False and not error, error if isinstance(error, str) else None,
                        reply)


# -- the typed calls


class AgentCalls:
    """Typed agent calls over `agent(*op dicts)` (Remote's wire method, or a test double's)."""

    host: Any

    def agent(self, *ops: dict, timeout: float = 180, parallel: bool = False) -> list[dict]:
        raise NotImplementedError

    def call(self, *requests: Request, timeout: float = 180, parallel: bool = False) -> list[Envelope[Any]]:
        """Requests in one round trip; one envelope each. An op that raised on the host is a
        RemoteError here (the agent is a bug or the host is broken: nothing to decide on)."""
        replies = self.agent(*(r.wire() for r in requests), timeout=timeout, parallel=parallel)
        envelopes = [Envelope.of(reply) for reply in replies]
        for request, reply in zip(requests, replies, strict=False):
            if "agent_error" in reply:
                raise RemoteError(f"{self.host.name}: agent {request.OP} failed: {reply['agent_error']}")
        return envelopes

    def _one(self, request: Request, timeout: float = 180) -> Any:
        return self.call(request, timeout=timeout)[0].data

    def probe(self) -> ProbeReply:
        return cast(ProbeReply, self._one(Probe()))

    def read(self, paths: list[str], *, globs: list[str] | None = None, list_dirs: list[str] | None = None,
             sha_only: bool | None = None) -> ReadReply:
        return cast(ReadReply, self._one(Read(paths, globs=globs, list_dirs=list_dirs, sha_only=sha_only)))

    def write(self, request: Write) -> Envelope[WriteReply]:
        return self.call(request)[0]

    def create(self, request: Create) -> Envelope[CreateReply]:
        return self.call(request)[0]

    def restore(self, files: list[dict[str, Any]]) -> RestoreReply:
        return cast(RestoreReply, self._one(Restore(files)))

    def logs(self, sources: list[dict[str, Any]], *, bytes: int | None = None, lines: int | None = None) -> LogsReply:
        return cast(LogsReply, self._one(Logs(sources, bytes=bytes, lines=lines)))

    def introspect(self, request: Introspect) -> CommandReply:
        return cast(CommandReply, self._one(request))

    def counters(self, request: Counters) -> CountersReply:
        return cast(CountersReply, self._one(request))

    def run_command(self, argv: list[str], *, timeout: float | None = None) -> CommandReply:
        return cast(CommandReply, self._one(RunCommand(argv, timeout=timeout)))

    def lock(self, run_id: str, *, controller: str | None = None, pid: int | None = None) -> Envelope[LockReply]:
        return self.call(Lock(run_id, controller=controller, pid=pid))[0]

    def unlock(self, run_id: str | None = None, *, break_: bool | None = None) -> LockReply:
        return cast(LockReply, self._one(Unlock(run_id, break_=break_)))

    def supervisor_restart(self, config: str, program: str | None, *, timeout: float, wait: float) -> SupervisorRestartReply:
        return cast(SupervisorRestartReply, self._one(SupervisorRestart(config, program, timeout=timeout),
                                                      timeout=wait))

    def hup_reload(self, request: HupReload, *, wait: float) -> HupReloadReply:
        """The op's own refusal (a master that is not the one probed) is data: `signalled` False."""
        return cast(HupReloadReply, self.call(request, timeout=wait)[0].data)

    def tcp_watch_start(self, request: TcpWatchStart) -> TcpWatchReply:
        return cast(TcpWatchReply, self._one(request))

    def tcp_watch_stop(self, watch_id: str) -> TcpWatchReply:
        return cast(TcpWatchReply, self._one(TcpWatchStop(watch_id)))
