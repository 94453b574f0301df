"""Emergency rollback of many hosts of one run, in parallel: every host back to before it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from remediation import apps, hooks
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


def app_journals(journal: Journal, name: str, app: str | None = None) -> list[Journal]:
    """The journal of each app of the host the run changed (one app: `app`), in the run's order;
    a run from before apps were told apart is one (app None)."""
    names = journal.apps(name)
    if app is not None:
        names = [a for a in names if a is not None and apps.matches(a, app)]
    return [j for j in (journal.for_app(a) for a in names) if j.changed_files(name)]


def rollback_one(inventory: Inventory, name: str, journal: Journal, *, accept_new_host_key: bool = False,
                 progress: Progress | None = None, app: str | None = None) -> HostOutcome:
    """One host back to before the run: each app it changed (or only `app`), its own files and
    restart, under one connection and the host lock."""
    progress = progress or Progress()
    progress.update(name, "rollback")
    journals = app_journals(journal, name, app)
    if not journals:
        return _release_only(inventory, name, journal, accept_new_host_key)
    try:
        host = inventory.host(name)
        gentle = host.hooks or hooks.check(name, host.vars)
        env = hooks.environment(name, host.address, host.vars)
        with Remote(host, accept_new_host_key=accept_new_host_key) as remote:
            lock.acquire(remote, journal.run_id)
            try:
                if gentle.drain:  # as gentle as the run: out of the load balancer before the restart
                    hooks.run("drain", gentle.drain, gentle, env, remote)
                files = []
                for each in journals:
                    each.record(name, "rollback-start", reason="requested")
                    files += rollback_host(remote, each, name)
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
                   accept_new_host_key: bool = False, progress: Progress | None = None,
                   app: str | None = None) -> FleetResult:
    """Roll back every named host of one run in parallel: each host's outcome, failures named."""
    result = FleetResult()
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(host_names) or 1))) as pool:
        for outcome in pool.map(lambda name: rollback_one(inventory, name, journal,
                                                          accept_new_host_key=accept_new_host_key,
                                                          progress=progress, app=app), host_names):
            result.add(outcome)
    return result
