"""The interface every restart manager implements, and what they share.

A manager is a unit: it recognises the process it runs (detect), names its own files to read
(files, more_globs), says where gunicorn's log is (log_source), what the inventory may state
about it (check_inventory), and restarts the app so a change really applies (restart_argvs,
restart). Its host side is `PROBE`, a stdlib-only module the agent payload bundles
(transport/payload.py). Adding one is a package here plus one line in managers/__init__.py.
"""
from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from remediation.errors import RestartError
from remediation.model import RemoteFile, RestartMethod


def under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/")


@dataclass
class StopBounds:
    """What bounds a manager's graceful stop of gunicorn: in-flight requests finish within
    min(graceful_timeout, the manager's stop timeout) when the stop signal is TERM (gunicorn's
    graceful shutdown); INT or QUIT stop at once."""

    graceful_timeout_s: float | None  # gunicorn's graceful_timeout (default 30)
    stop_signal: str | None  # what the manager sends first
    stop_timeout_s: float | None  # how long the manager waits before SIGKILL
    setting: str  # where the manager's values are set (their names)
    notes: list[str] = field(default_factory=list)

    @property
    def graceful(self) -> bool:
        return (self.stop_signal or "TERM").upper().removeprefix("SIG") == "TERM"

    @property
    def bound_s(self) -> float | None:
        known = [v for v in (self.graceful_timeout_s, self.stop_timeout_s) if v is not None]
        return min(known) if known and self.graceful else (0.0 if not self.graceful else None)

    def as_json(self) -> dict:
        return {"graceful_timeout_s": self.graceful_timeout_s, "stop_signal": self.stop_signal,
                "stop_timeout_s": self.stop_timeout_s, "setting": self.setting, "graceful": self.graceful,
                "bound_s": self.bound_s, "notes": self.notes}


SIGNALS = {"1": "HUP", "2": "INT", "3": "QUIT", "9": "KILL", "15": "TERM"}


def signal_name(value: str | None) -> str | None:
    """TERM for `SIGTERM`, `TERM`, `15` (systemctl show prints the number)."""
    if not value:
        return None
    value = str(value).strip().upper().removeprefix("SIG")
    return SIGNALS.get(value, value)


DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>us|ms|min|m|h|s)?")


def seconds(value: str | int | float | None) -> float | None:
    """Seconds in a duration as managers write it: `10`, `10s`, `1m30s` (compose), `1min 30s`
    (systemd), `infinity` (None: no bound)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value.strip().lower() == "infinity":
        return None
    total = 0.0
    for match in DURATION.finditer(value):
        unit = match.group("unit") or "s"
        total += float(match.group("n")) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "min": 60, "h": 3600}[unit]
    return total


class Manager:
    KIND = ""  # RestartMethod.kind of the processes this manager runs
    LABEL = ""  # how reports name it
    INVENTORY_VARS: tuple[str, ...] = ()  # host vars that state something about this manager
    PROBE: str | None = None  # its host-side probe module (stdlib only), bundled into the agent
    ENGINE = "docker"  # the container CLI that runs a command in its container (`ENGINE exec`)

    def detect(self, master: dict, compose_clis: dict[str, str]) -> RestartMethod | None:
        """The restart method, when this manager runs the agent-probed master; else None."""
        raise NotImplementedError

    def engine_facts(self, master: dict) -> dict:
        """What the container engine says of the probed master's container (its mounts map
        container paths to host paths, its published ports): the `docker` key its probe added."""
        return master.get("docker") or {}

    def files(self, method: RestartMethod) -> list[str]:
        """Host paths of the manager's own files to read with the app's files."""
        return list(method.config_files)

    def more_globs(self, method: RestartMethod, files: dict[str, RemoteFile]) -> list[str]:
        """Further files (absolute paths or glob patterns) the first files name."""
        return []

    def reads(self, method: RestartMethod, files: dict[str, RemoteFile]) -> list[str]:
        """Files (host paths) the manager itself reads to create the process, beyond its config
        files: a change to one is applied by the manager's reload, and it is the manager's file."""
        return []

    def log_source(self, method: RestartMethod, files: dict[str, RemoteFile]) -> dict | None:
        """Where the agent reads gunicorn's log; `files` may be empty (before the first read)."""
        return None

    def proof_log_source(self, method: RestartMethod, files: dict[str, RemoteFile], pid: int) -> dict | None:
        """Where the restarted master `pid`'s own lines are read as evidence (default: log_source)."""
        return self.log_source(method, files)

    def owns_file(self, method: RestartMethod, path: str) -> bool:
        """A file of the manager's own configuration (exempt from remediation_app_dir)."""
        return path in method.config_files or path in method.manager_reads

    def check_inventory(self, method: RestartMethod, host_vars: dict) -> list[str]:
        """One line per disagreement between this manager's inventory vars and the host."""
        return []

    def restart_argvs(self, method: RestartMethod, changed: list[str]) -> list[list[str]]:
        """The commands (run under sudo) that apply `changed` host paths to the running app."""
        raise NotImplementedError

    def stop_bounds(self, method: RestartMethod, files: dict[str, RemoteFile], graceful_timeout: float | None) -> StopBounds:
        """What bounds this manager's graceful stop of gunicorn (its stop signal and timeout)."""
        return StopBounds(graceful_timeout, None, None, "unknown")

    def restart(self, remote, method: RestartMethod, changed: list[str], timeout_s: int) -> list[str]:
        """Run the restart; returns the commands as shown in reports. The caller waits for serving."""
        ran = []
        for argv in self.restart_argvs(method, changed):
            remote.run(argv, sudo=True, timeout=timeout_s + 60)
            ran.append(shlex.join(argv))
        return ran


class Unmanaged(Manager):
    """A gunicorn nothing known restarts (started by hand, plain `docker run`): report, never restart."""

    KIND = "unknown"
    LABEL = "unknown"

    def detect(self, master, compose_clis):
        return RestartMethod("unknown")

    def restart_argvs(self, method, changed):
        raise RestartError(f"cannot restart gunicorn managed by {method.kind!r}: restart it by hand")


def normpaths(base: str | None, paths: list[str]) -> list[str]:
    return [posixpath.normpath(posixpath.join(base or "/", p)) for p in paths]
