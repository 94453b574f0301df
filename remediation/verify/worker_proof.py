"""Which worker class the restarted gunicorn runs: proven from the process, the log only adds (pure).

The proof rests on the restarted process itself:
- gunicorn's own loader run on the restarted master's real argv, environment and files (the
  agent reads them from /proc; the files cannot change under the host lock), and
- the workers' thread counts from /proc (a gthread worker runs a pool: more than one thread
  after the warm-up; sync and gevent workers run one).

gunicorn's `Using worker: X` line is evidence only when it is the restarted master's: the
default error-log format carries the master's pid (`[2026-01-01 10:00:00 +0000] [4242] [INFO]
Using worker: gthread`). Such a line that names another class than the process proof is a real
conflict and fails the host; a log that cannot be read, has no such line, or whose line cannot be
attributed to the restarted master (an older file, a custom format) is a warning, never a failure.
A systemd unit's journal is read by the restarted master's pid (journald's _PID of each line), so
its lines are the master's whatever their format.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from remediation.plan.decide import live_kind

# gunicorn's error log: "[date] [PID] [INFO] Using worker: X"; a custom format may lack the pid
LOGGED = re.compile(r"(?:\[(?P<pid>\d+)\]\s+\[[A-Z]+\]\s+)?Using worker: (?P<cls>\S+)")


@dataclass
class ProcessEvidence:
    """What the restarted process shows."""
    master_pids: tuple[int, ...]  # the restarted master's pid, and its pid inside a container
    loaded: str | None  # worker_class from gunicorn's loader on the restarted argv + environment
    loaded_error: str | None = None  # why the loader gave nothing
    worker_threads: list[int] = field(default_factory=list)


@dataclass
class LogEvidence:
    text: str | None  # None: the log could not be read
    where: str = "the app log"
    error: str | None = None
    pid: int | None = None  # the source holds only this process's lines (the journal's _PID)
    reloaded: bool = False  # the text is what the master logged since its `Handling signal: hup`


def logged_workers(text: str) -> list[tuple[int | None, str]]:
    """Every `Using worker: X` line as (the logging process's pid or None, X), in order."""
    return [(int(m.group("pid")) if m.group("pid") else None, m.group("cls")) for m in LOGGED.finditer(text)]


def same_class(a: str | None, b: str) -> bool:
    """`gthread` and `gunicorn.workers.gthread.ThreadWorker` name one class."""
    if a is None:
        return False
    return a == b or live_kind({"worker_class": a}) == live_kind({"worker_class": b}) != "custom"


def judge_worker(process: ProcessEvidence, log: LogEvidence, want: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) for the restarted gunicorn's worker class against `want`."""
    problems, warnings = [], []
    threaded = any(n > 1 for n in process.worker_threads)
    if process.loaded is None:
        why = process.loaded_error or "no answer"
        if want == "gthread" and threaded:
            warnings.append(f"gunicorn's loader on the restarted command line gave no worker class ({why}); "
                            f"the workers' thread pools {process.worker_threads} show gthread")
        else:
            problems.append(f"cannot tell the restarted gunicorn's worker class: its loader gave none ({why})")
    elif not same_class(process.loaded, want):
        problems.append(f"the restarted gunicorn loads worker class {process.loaded} (its own loader on the "
                        f"restarted command line and environment), want {want}")
    if want == "gthread" and not threaded:
        problems.append(f"worker thread counts {process.worker_threads}: no gthread pool is running")
    problems_log, warnings_log = _log(process, log, want)
    return problems + problems_log, warnings + warnings_log


def _log(process: ProcessEvidence, log: LogEvidence, want: str) -> tuple[list[str], list[str]]:
    pids = ", ".join(str(p) for p in process.master_pids)
    if log.text is None:
        return [], [f"{log.where} could not be read ({log.error or 'no log source'}): the worker class was "
                    "judged from the process alone"]
    lines = logged_workers(log.text)
    mine = [cls for pid, cls in lines if (pid if pid is not None else log.pid) in process.master_pids]
    if mine:
        if same_class(mine[-1], want):
            return [], []
        return [f"the restarted master (pid {pids}) logged `Using worker: {mine[-1]}` in {log.where}, "
                f"want {want}"], []
    if not lines:
        if log.reloaded:  # a reload logs no `Using worker` line: silence is what a good HUP leaves
            return [], []
        return [], [f"no `Using worker` line in {log.where}: the worker class was judged from the process alone"]
    pid, cls = lines[-1]
    who = f"pid {pid}" if pid is not None else "no pid"
    if same_class(cls, want):
        return [], []
    return [], [f"{log.where} says `Using worker: {cls}` ({who}), not from the restarted master (pid {pids}): "
                "ignored, the worker class was judged from the process"]


def describe(source: dict | None) -> str:
    """How a report names a log source."""
    if not source:
        return "the app log"
    if source.get("kind") == "file":
        return f"log file {source.get('path')}"
    if source.get("kind") == "journal":
        return f"the journal of {source.get('unit')}" + (f" (pid {source['pid']})" if source.get("pid") else "")
    if source.get("container"):  # a container engine's own log (docker logs, podman logs)
        return f"{source.get('kind')} logs of {str(source.get('container'))[:12]}"
    return "the app log"


def log_evidence(source: dict | None, reply: str | dict | None) -> LogEvidence:
    """The agent's `logs` reply for one source as evidence: text, or why there is none."""
    where = describe(source)
    if source is None:
        return LogEvidence(None, where, "the manager names no log")
    if isinstance(reply, str):
        return LogEvidence(reply, where, pid=source.get("pid"))
    error = reply.get("error") if isinstance(reply, dict) else None
    return LogEvidence(None, where, error or "no reply")
