"""The run journal on the controller: `<runs dir>/<run-id>/`.

The runs dir is one place whatever the current directory: `$REMEDIATION_RUNS_DIR`, else
`remediation.runs_dir` in invoke.yaml, else the user's state directory
(`$XDG_STATE_HOME/remediation/runs`, by default `~/.local/state/remediation/runs`).

Every event is appended and fsynced before the step it announces, and every original
file is copied here before it is changed on a host, so a rollback can work from the
journal alone after the controller died at any point.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from remediation.atomic import write_atomic

_configured: Path | None = None


def configure_runs_dir(path: str | os.PathLike | None) -> None:
    """The runs dir invoke.yaml names (`remediation.runs_dir`); the environment variable wins."""
    global _configured
    _configured = Path(path).expanduser() if path else None


def default_runs_dir() -> Path:
    """Where every run's journal lives (see the module docstring for the order)."""
    if os.environ.get("REMEDIATION_RUNS_DIR"):
        return Path(os.environ["REMEDIATION_RUNS_DIR"]).expanduser()
    if _configured is not None:
        return _configured
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "remediation" / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass
class Journal:
    run_id: str
    root: Path

    @classmethod
    def create(cls, kind: str, playbook: str | None, hosts: list[str], runs_dir: Path | None = None) -> "Journal":
        run_id = new_run_id()
        root = (runs_dir or default_runs_dir()) / run_id
        root.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        root.mkdir(mode=0o700)
        journal = cls(run_id, root)
        meta = {"run_id": run_id, "kind": kind, "playbook": playbook, "hosts": hosts, "started": time.time(),
                "controller": socket.gethostname(), "pid": os.getpid()}
        journal._write_atomic(root / "run.json", json.dumps(meta, indent=1).encode())
        return journal

    @classmethod
    def open(cls, run_id: str, runs_dir: Path | None = None) -> "Journal":
        root = (runs_dir or default_runs_dir()) / run_id
        if not (root / "run.json").exists():
            raise FileNotFoundError(run_id)
        return cls(run_id, root)

    def meta(self) -> dict:
        return json.loads((self.root / "run.json").read_text())

    def _write_atomic(self, path: Path, data: bytes, mode: int = 0o600) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, data, mode)

    def record(self, host: str, event: str, **fields) -> None:
        """Append one event (fsynced) to the journal."""
        line = json.dumps({"t": round(time.time(), 3), "host": host, "event": event, **fields}) + "\n"
        fd = os.open(self.root / "events.jsonl", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line  # after a torn last line (crash mid-write): start a fresh line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def events(self, host: str | None = None) -> list[dict]:
        path = self.root / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash
            if host is None or event["host"] == host:
                out.append(event)
        return out

    def keep_original(self, host: str, path: str, content: bytes) -> Path:
        """The controller's copy of a file's original bytes (written before the host is touched)."""
        copy = self._copy_path(host, path)
        if copy.exists():  # the first copy in a run is the true original (resume, retries)
            return copy
        self._write_atomic(copy, content)
        if hashlib.sha256(copy.read_bytes()).hexdigest() != hashlib.sha256(content).hexdigest():
            raise OSError(f"controller copy of {path} did not verify")
        return copy

    def _copy_path(self, host: str, path: str) -> Path:
        """Where the controller keeps a host file's original: always inside originals/<host>/."""
        if not host or host in (".", "..") or "/" in host:
            raise ValueError(f"unsafe host name for the journal: {host!r}")
        return self.root / "originals" / host / posixpath.normpath("/" + path).lstrip("/")

    def original(self, host: str, path: str) -> bytes | None:
        copy = self._copy_path(host, path)
        return copy.read_bytes() if copy.exists() else None

    def for_app(self, app: str | None) -> "AppJournal":
        """This journal as one app of a host sees it: its events carry `app`, and it reads back only
        those (a run before several apps were told apart has none: app None reads them all)."""
        return AppJournal(self.run_id, self.root, app)

    def apps(self, host: str) -> list[str | None]:
        """The apps a host's events name, in the order they first appear (None: events of no app)."""
        seen: dict[str | None, None] = {}
        for event in Journal.events(self, host):
            seen.setdefault(event.get("app"), None)
        return list(seen)

    def write_report(self, report: dict) -> None:
        self._write_atomic(self.root / "report.json", json.dumps(report, indent=1).encode())

    def changed_files(self, host: str) -> list[dict]:
        """Files a host may have had changed in this run (an intent is enough), oldest first."""
        seen: dict[str, dict] = {}
        for event in self.events(host):
            if event["event"] == "change-intent" and event["path"] not in seen:
                seen[event["path"]] = event
        return list(seen.values())


    def rolled_back_since_change(self, host: str) -> bool:
        """True when the host's last change in this run has been rolled back."""
        last_change = last_rollback = -1
        for i, event in enumerate(self.events(host)):
            if event["event"] in ("change-intent", "change-done"):
                last_change = i
            elif event["event"] == "rolled-back":
                last_rollback = i
        return last_rollback > last_change


@dataclass
class AppJournal(Journal):
    """One app's view of a run's journal (Journal.for_app): what it records is tagged with the app,
    what it reads back is that app's alone, so a rollback restores and restarts that app only."""

    app: str | None = None

    def record(self, host: str, event: str, **fields) -> None:
        if self.app is None:
            super().record(host, event, **fields)
        else:
            super().record(host, event, app=self.app, **fields)

    def events(self, host: str | None = None) -> list[dict]:
        every = super().events(host)
        if self.app is None and not any(e.get("app") for e in every):
            return every
        return [e for e in every if e.get("app") == self.app]


def list_runs(runs_dir: Path | None = None) -> list[Journal]:
    base = runs_dir or default_runs_dir()
    if not base.exists():
        return []
    return [Journal(p.name, p) for p in sorted(base.iterdir()) if (p / "run.json").exists()]

