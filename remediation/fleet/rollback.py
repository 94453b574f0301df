"""Emergency rollback of many hosts of one run, in parallel: every host back to before it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from remediation import hooks
from remediation.config.inventory import Inventory
from remediation.errors import HostUnreachable, RemediationError
from remediation.fleet.progress import Progress
from remediation.journal import Journal
from remediation.model import FleetResult, HostOutcome, Outcome
from remediation.redact import redact
from remediation.rollback import rollback_host
from remediation.transport import lock
from remediation.transport.remote import Remote


def _release_only(inventory: Inventory, name: str, journal: Journal, accept_new_host_key: bool) -> HostOutcome:
    """Nothing to restore; still release a lock the (dead) run may have left."""
    try:
        with Remote(inventory.host(name), accept_new_host_key=accept_new_host_key) as remote:
            lock.release(remote, journal.run_id)
        return HostOutcome(name, Outcome.NOTHING)
    except RemediationError as exc:
        return HostOutcome(name, Outcome.NOTHING, f"lock not checked: {redact(str(exc))}")


def rollback_one(inventory: Inventory, name: str, journal: Journal, *, accept_new_host_key: bool = False,
                 progress: Progress | None = None) -> HostOutcome:
    progress = progress or Progress()
    progress.update(name, "rollback")
    if not journal.changed_files(name):
        return _release_only(inventory, name, journal, accept_new_host_key)
    try:
        host = inventory.host(name)
        gentle = hooks.check(name, host.vars)
        env = hooks.environment(name, host.vars)
        with Remote(host, accept_new_host_key=accept_new_host_key) as remote:
            lock.acquire(remote, journal.run_id)
            try:
                if gentle.drain:  # as gentle as the run: out of the load balancer before the restart
                    hooks.run("drain", gentle.drain, gentle, env, remote)
                journal.record(name, "rollback-start", reason="requested")
                files = rollback_host(remote, journal, name)
                if gentle.drain and gentle.ready:
                    hooks.run("ready", gentle.ready, gentle, env, remote)
            finally:
                lock.release(remote, journal.run_id)
        progress.update(name, "rollback", "rolled_back")
        return HostOutcome(name, Outcome.DONE if files else Outcome.NOTHING)
    except hooks.HookFailed as exc:
        progress.update(name, "rollback", "failed")
        return HostOutcome(name, Outcome.FAILED, redact(f"{exc} (a failed drain restores nothing; a failed ready "
                                                        "leaves the rolled-back host drained)"), error=type(exc))
    except (RemediationError, HostUnreachable) as exc:
        progress.update(name, "rollback", "failed")
        return HostOutcome(name, Outcome.FAILED, redact(str(exc)), error=type(exc))


def rollback_fleet(inventory: Inventory, host_names: list[str], journal: Journal, *, forks: int = 10,
                   accept_new_host_key: bool = False, progress: Progress | None = None) -> FleetResult:
    """Roll back every named host of one run in parallel: each host's outcome, failures named."""
    result = FleetResult()
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(host_names) or 1))) as pool:
        for outcome in pool.map(lambda name: rollback_one(inventory, name, journal,
                                                          accept_new_host_key=accept_new_host_key,
                                                          progress=progress), host_names):
            result.add(outcome)
    return result
