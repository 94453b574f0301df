"""Apply a change the gentlest way the plan chose (plan/restart_kind.py): HUP to the running master
and proof that a new generation of workers serves, else the manager's restart (restart.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

from remediation.journal import Journal
from remediation.model import GunicornMaster, RestartMethod
from remediation.plan.restart_kind import RestartKind
from remediation.restart import restart, wait_serving
from remediation.transport.protocol import HupReload
from remediation.transport.remote import Remote
from remediation.verify.reload_proof import generation_problems


@dataclass
class Applied:
    """How the change was applied: the kind that ran, the commands, why a HUP fell back."""
    kind: RestartKind
    commands: list[str] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)  # why the HUP did not prove a reload
    workers: list[dict] = field(default_factory=list)  # the new generation after a HUP


def hup(remote: Remote, master: GunicornMaster, want: int, timeout_s: int) -> tuple[list[str], list[dict]]:
    """SIGHUP to the master, then wait (on the host, one round trip) for a new generation of
    workers. (problems, the workers seen); no problem: every worker is new."""
    old = [w.pid for w in master.workers]
    assert master.started is not None  # apply_restart signals only a master whose start time is known
    reply = remote.hup_reload(HupReload(master.pid, master.started, want, old, timeout_s), wait=timeout_s + 30)
    return generation_problems(dict(reply), old, want, master.started), list(reply.get("workers") or [])


def apply_restart(remote: Remote, journal: Journal, host: str, kind: RestartKind, master: GunicornMaster | None,
                  method: RestartMethod, changed: list[str], url: str, timeout_s: int, want: int,
                  applied: Applied | None = None) -> Applied:
    """HUP when `kind` says so and the master is known, proven by its new workers; on no proof
    within `timeout_s`, the manager's restart. Journalled either way. `applied` is filled in as it
    goes, so a caller still knows what ran when the manager's restart raises."""
    applied = applied if applied is not None else Applied(kind)
    applied.kind = kind
    if kind == RestartKind.RELOAD_HUP and master is not None and master.started is not None:
        problems, workers = hup(remote, master, want, timeout_s)
        command = f"kill -HUP {master.pid}"
        if not problems:
            wait_serving(remote, url, timeout_s)
            journal.record(host, "reloaded", master_pid=master.pid, workers=[w["pid"] for w in workers])
            applied.commands, applied.workers = [command], workers
            return applied
        journal.record(host, "reload-fallback", master_pid=master.pid, problems=problems)
        applied.commands, applied.fallback = [f"{command}  (no proof: {'; '.join(problems)})"], problems
    elif kind == RestartKind.RELOAD_HUP:
        applied.fallback = ["no master of the app runs: the manager starts it" if master is None
                            else "the master's start time is unknown: it cannot be signalled safely"]
        journal.record(host, "reload-fallback", master_pid=master.pid if master else None, problems=applied.fallback)
    applied.kind = RestartKind.MANAGER_RESTART
    applied.commands += restart(remote, method, changed, url, timeout_s)
    return applied
