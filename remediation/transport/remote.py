"""One host's session for a whole run: a single SSH connection, commands, and agent calls.

Every shell command is built with shlex from an argument list; nothing from the
inventory reaches a shell unquoted. Host-side work that needs root goes through the
host agent (assembled by transport/payload.py) under `sudo -n`, batched per round trip.
"""
from __future__ import annotations

import base64
import json
import select
import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import paramiko

from remediation.errors import HostUnreachable, RemoteError
from remediation.config.inventory import Host
from remediation.transport import payload
from remediation.transport.protocol import AgentCalls
from remediation.transport.ssh import NoRoute, connect

AGENT_STUB = "import base64,sys;exec(compile(base64.b64decode(sys.argv[1]),'hostagent','exec'))"


@dataclass
class CommandResult:
    rc: int
    stdout: str
    stderr: str


@dataclass
class Started:
    """A command started with Remote.start, not yet collected."""
    chan: Any  # a paramiko Channel (paramiko ships no type information)
    argv: list
    deadline: float

    def abandon(self) -> None:
        """Stop waiting for it: its channel closes (the command ends on its next write)."""
        try:
            self.chan.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass


@dataclass
class Remote(AgentCalls):
    host: Host
    accept_new_host_key: bool = False
    python: str = "python3"
    round_trips: int = 0
    _conn: Any = field(default=None, repr=False)  # transport.ssh's connection
    _agent: Any = field(default=None, repr=False)  # the agent's channel, while it serves
    _agent_buffer: bytes = field(default=b"", repr=False)
    _agent_stderr: list = field(default_factory=list, repr=False)

    def open(self, timeout: float = 10) -> "Remote":
        target = self.host.ssh_target()
        if self.python == "python3":  # ansible_python_interpreter, where the inventory gives one
            self.python = getattr(self.host, "python", "python3")
        try:
            self._conn = connect(target, accept_new_host_key=self.accept_new_host_key, timeout=timeout)
        except paramiko.SSHException as exc:  # every message names the resolved route and the fix
            raise HostUnreachable(f"{self.host.name}: {exc}") from None
        except NoRoute as exc:
            raise HostUnreachable(f"{self.host.name}: {exc.strerror}") from None
        except (OSError, socket.timeout, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise HostUnreachable(f"{self.host.name}: cannot reach {target.address}:{target.port or 22}: {reason}") from None
        except ValueError as exc:
            raise HostUnreachable(f"{self.host.name}: invalid address {target.address!r}: {exc}") from None
        self.round_trips += 1
        return self

    def close(self) -> None:
        self._drop_agent()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Remote":
        return self.open() if self._conn is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, argv: list[str], *, sudo: bool = False, stdin: str | bytes | None = None,
            timeout: float = 120, check: bool = True) -> CommandResult:
        """Run an argument list on the host (quoted with shlex), optionally under `sudo -n`."""
        command = shlex.join((["sudo", "-n", "--"] if sudo else []) + [str(a) for a in argv])
        self.round_trips += 1
        try:
            out = self._exec(command, stdin.encode() if isinstance(stdin, str) else stdin, timeout)
        except socket.timeout:
            raise RemoteError(f"{self.host.name}: timed out after {timeout}s: {shlex.join(map(str, argv))[:200]}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise HostUnreachable(f"{self.host.name}: connection lost: {exc or type(exc).__name__}") from None
        if check and out.rc != 0:
            if sudo and "a password is required" in out.stderr:
                raise RemoteError(f"{self.host.name}: sudo denied for {self.host.ssh_target().user} "
                                  "(passwordless sudo is required)")
            detail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise RemoteError(f"{self.host.name}: `{shlex.join(map(str, argv))[:200]}` exited {out.rc}: {detail[0]}")
        return out

    def start(self, argv: list[str], *, timeout: float = 120) -> "Started":
        """Start an argument list on the host and return at once; `finish` collects it. The
        agent channel stays free meanwhile (both run over this one SSH connection)."""
        command = shlex.join([str(a) for a in argv])
        self.round_trips += 1
        try:
            return Started(self._open_exec(command, None, timeout), argv, time.monotonic() + timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise HostUnreachable(f"{self.host.name}: connection lost: {exc or type(exc).__name__}") from None

    def finish(self, started: "Started", *, check: bool = True) -> CommandResult:
        """Wait for a started command and return its result (as `run` does)."""
        try:
            out = self._collect(started.chan, max(1.0, started.deadline - time.monotonic()))
        except socket.timeout:
            raise RemoteError(f"{self.host.name}: timed out: {shlex.join(map(str, started.argv))[:200]}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise HostUnreachable(f"{self.host.name}: connection lost: {exc or type(exc).__name__}") from None
        if check and out.rc != 0:
            detail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise RemoteError(f"{self.host.name}: `{shlex.join(map(str, started.argv))[:200]}` exited {out.rc}: "
                              f"{detail[0]}")
        return out

    def _open_exec(self, command: str, stdin: bytes | None, timeout: float):
        transport = self._conn.client.get_transport()
        if transport is None or not transport.is_active():
            raise EOFError("SSH transport is closed")
        chan = transport.open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
        except BaseException:
            chan.close()
            raise
        return chan

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> CommandResult:
        """One exec channel: send stdin whole, close it, collect both streams until exit."""
        return self._collect(self._open_exec(command, stdin, timeout), timeout)

    def _collect(self, chan, timeout: float) -> CommandResult:
        """Both streams until the channel's EOF, then the exit status. sshd sends exit-status as
        soon as the command is reaped, which can be before the last of its output (still in the
        pipe on the host): the exit status alone does not mean the output is complete; EOF does
        (every stdout and stderr packet comes before it)."""
        try:
            stdout, stderr = [], []
            deadline = time.monotonic() + timeout
            while True:
                got = False
                if chan.recv_ready():
                    stdout.append(chan.recv(65536))
                    got = True
                if chan.recv_stderr_ready():
                    stderr.append(chan.recv_stderr(65536))
                    got = True
                if got:
                    continue
                if _ended(chan) and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    raise socket.timeout()
                select.select([chan], [], [], 0.05)
            while not chan.exit_status_ready():  # exit-status may also come after EOF (before close)
                if time.monotonic() > deadline:
                    raise socket.timeout()
                chan.status_event.wait(0.05)
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        return CommandResult(rc, b"".join(stdout).decode("utf-8", "replace"),
                             b"".join(stderr).decode("utf-8", "replace"))

    def agent(self, *ops: dict, timeout: float = 180, parallel: bool = False) -> list[dict]:
        """Run agent operations in one round trip, as root; one reply per operation.

        The agent is started once per connection (`sudo -n python3 ... --serve`) and takes one
        JSON line per request, so a round trip costs no new sudo or interpreter. `parallel`
        runs read-only operations at once on the host (writes always run in order)."""
        request = json.dumps({"ops": list(ops), "parallel": parallel}).encode() + b"\n"
        self.round_trips += 1
        try:
            chan = self._agent_channel(timeout)
            chan.settimeout(timeout)
            chan.sendall(request)
            line = self._agent_line(chan, timeout)
        except socket.timeout:
            self._drop_agent()
            raise RemoteError(f"{self.host.name}: agent {ops[0]['op']} timed out after {timeout}s") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._drop_agent()
            raise HostUnreachable(f"{self.host.name}: connection lost: {exc or type(exc).__name__}") from None
        if line is None:
            stderr = self._drop_agent()
            if "a password is required" in stderr:
                raise RemoteError(f"{self.host.name}: sudo denied for {self.host.ssh_target().user} "
                                  "(passwordless sudo is required)")
            raise RemoteError(f"{self.host.name}: agent exited: {(stderr.strip().splitlines() or ['no output'])[-1][:200]}")
        try:
            replies = json.loads(line)["replies"]
        except (ValueError, KeyError):
            raise RemoteError(f"{self.host.name}: agent returned no reply") from None
        for op, reply in zip(ops, replies, strict=False):
            if "agent_error" in reply:
                raise RemoteError(f"{self.host.name}: agent {op['op']} failed: {reply['agent_error']}")
        return replies

    def _agent_channel(self, timeout: float):
        if self._agent is not None and not self._agent.exit_status_ready():
            return self._agent
        self._drop_agent()
        transport = self._conn.client.get_transport() if self._conn is not None else None
        if transport is None or not transport.is_active():
            raise EOFError("SSH transport is closed")
        encoded = base64.b64encode(payload.source().encode()).decode()
        chan = transport.open_session(timeout=timeout)
        chan.exec_command(shlex.join(["sudo", "-n", "--", self.python, "-I", "-S", "-c", AGENT_STUB, encoded, "--serve"]))
        self._agent, self._agent_buffer = chan, b""
        return chan

    def _agent_line(self, chan, timeout: float) -> bytes | None:
        """The agent's next reply line; None when it exited instead."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._agent_buffer:
            if chan.recv_stderr_ready():
                self._agent_stderr.append(chan.recv_stderr(65536))
            if chan.recv_ready():
                data = chan.recv(1 << 20)
                if not data:
                    return None
                self._agent_buffer += data
                continue
            if _ended(chan) and not chan.recv_ready():  # EOF: its stderr has all arrived too
                return None
            if time.monotonic() > deadline:
                raise socket.timeout()
            select.select([chan], [], [], 0.05)
        line, _, self._agent_buffer = self._agent_buffer.partition(b"\n")
        return line

    def _drop_agent(self) -> str:
        """Close the agent's channel (it exits on end of input); returns what it wrote to stderr."""
        chan, self._agent = self._agent, None
        if chan is None:
            return ""
        try:
            while chan.recv_stderr_ready():
                self._agent_stderr.append(chan.recv_stderr(65536))
            chan.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        stderr = b"".join(self._agent_stderr).decode("utf-8", "replace")
        self._agent_stderr = []
        return stderr


def _ended(chan) -> bool:
    """No more output will come on this channel: EOF received, or the channel closed."""
    return bool(chan.eof_received) or chan.closed


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started
