"""Go or no-go for one host, from its inspection and the playbook (pure).

The decision comes before any baseline or write: nothing to do, refused (with the reason),
cannot reach the target (a plan error), or go, and then whether only a restart is needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from remediation import apps
from remediation.config.inventory import Host, Inventory
from remediation.config.playbook import Playbook, missing_path_reason
from remediation.discovery.worker_classes import KEPT, WorkerKind, classify, refused_as
from remediation.managers.base import Unmanaged
from remediation.model import Target
from remediation.plan.expectations import mismatches
from remediation.plan.inspection import Inspection
from remediation.plan.preflight import check
from remediation.versions import older_than

DB_GROUP_NAMES = ("postgres", "postgresql", "mysql", "mariadb")


class Verdict(StrEnum):
    UNCHANGED = "unchanged"  # at the target already, live and in the files
    BLOCKED = "blocked"  # a file cannot be read or patched safely: refused, --force or not
    UNREACHABLE_TARGET = "unreachable-target"  # the files cannot be patched to the target
    PREFLIGHT_REFUSED = "preflight-refused"  # pre-flight refusals (--force overrides)
    GO = "go"


@dataclass
class Decision:
    verdict: Verdict
    reason: str = ""
    restart_only: bool = False  # files at target, but the live worker is not
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def live_kind(gunicorn: dict) -> WorkerKind | None:
    """The kind (discovery/worker_classes.WorkerKind) of the class gunicorn really
    runs (`sync` with threads > 1 runs as gthread), None when the app's view is missing."""
    name = gunicorn.get("effective_worker_class") or gunicorn.get("worker_class")
    return classify(name) if name else None


def host_target(gunicorn: dict, versions: dict, target: Target) -> Target:
    """The playbook's target as it applies to this host: a sync or gthread app keeps its worker
    class, workers and threads (the owner's capacity choice; only its connection settings are
    the fix), and Django < 4.1 has no CONN_HEALTH_CHECKS to set."""
    wanted = target
    if live_kind(gunicorn) in KEPT:
        name = gunicorn.get("worker_class") or target.worker_class
        wanted = replace(wanted, worker_class=name, workers=gunicorn.get("workers", target.workers),
                         threads=gunicorn.get("threads", target.threads),
                         worker_connections=gunicorn.get("worker_connections", target.worker_connections))
    if older_than(versions.get("django"), (4, 1)):
        wanted = replace(wanted, conn_health_checks=False)
    return wanted


def target_reached(gunicorn: dict, databases: dict, target: Target) -> list[str]:
    """What still differs from the target in the app's own view of its settings."""
    gaps = []
    want = {"worker_class": target.worker_class, "workers": target.workers, "threads": target.threads}
    if target.worker_class == "gthread":
        want["worker_connections"] = target.worker_connections
    for key, value in want.items():
        if gunicorn.get(key) != value:
            gaps.append(f"gunicorn {key} is {gunicorn.get(key)!r}, want {value!r}")
    for alias, db in databases.items():
        if db.get("pool"):
            continue
        if db.get("CONN_MAX_AGE") != target.conn_max_age:
            gaps.append(f"{alias} CONN_MAX_AGE is {db.get('CONN_MAX_AGE')!r}, want {target.conn_max_age!r}")
        if bool(db.get("CONN_HEALTH_CHECKS")) != target.conn_health_checks:
            gaps.append(f"{alias} CONN_HEALTH_CHECKS is {db.get('CONN_HEALTH_CHECKS')!r}, "
                        f"want {target.conn_health_checks!r}")
    return gaps


def files_unread_until_restart(gunicorn: dict) -> bool:
    """True when the running gunicorn (as it loaded its own config) reads no config or settings
    file again before a restart: no `reload`, and no worker recycling (max_requests) that would
    import the settings anew in a fresh worker, unless the app is preloaded in the master. Only
    then may the files change while the baseline is measured against the old process."""
    if not gunicorn or "reload" not in gunicorn or "max_requests" not in gunicorn:
        return False  # an older introspection or none: assume the worst
    return not gunicorn["reload"] and (not gunicorn["max_requests"] or bool(gunicorn.get("preload_app")))


def hosts_sharing_db(host: Host, inventory: Inventory) -> int:
    """How many hosts share this host's database (its DB group, else the whole inventory)."""
    group = host.vars.get("remediation_db_group")
    if group and group in inventory.groups:
        return len(inventory.groups[group])
    for name in host.groups:
        if name in DB_GROUP_NAMES:
            return len(inventory.groups[name])
    return len(inventory.hosts)


def process_predates_files(ins: Inspection, target: Target) -> bool:
    """The files are at the target but the running gunicorn started before they were written (the
    process's start time against the files' mtimes): only a restart applies them. Without those
    facts, the log's `Using worker` line of a gevent-style class is the one evidence left."""
    written = ins.written_since_start()
    if written is not None:
        return bool(written)
    live_worker = ins.running_worker()
    return live_worker not in (None, target.worker_class) and live_kind({"worker_class": live_worker}) == WorkerKind.GEVENT


def verify_path(app: str, host_vars: dict, playbook: Playbook) -> str | None:
    """The page an app is verified on: its own (`remediation_verify_paths`), else the host's
    (`remediation_verify_path`), else the playbook's."""
    return apps.verify_path(app, host_vars) or playbook.verify.path_for(host_vars)


def decide(ins: Inspection, host: Host, inventory: Inventory, playbook: Playbook, *, force: bool) -> Decision:
    """The go/no-go, in the order the checks must run (cheapest and most certain first)."""
    target = host_target(ins.gunicorn, ins.versions(), playbook.target)
    name = ins.gunicorn.get("worker_class")
    what = refused_as(ins.gunicorn.get("effective_worker_class") or name)
    if what:
        return Decision(Verdict.BLOCKED, f"refused: gunicorn runs {what} ({name}): neither switched to a WSGI "
                                         "worker nor given persistent connections by this tool; review by hand; "
                                         "nothing was changed")
    gaps = target_reached(ins.gunicorn, ins.databases(), target)
    patched = ins.audit.patched
    restart_only = not patched and not gaps and process_predates_files(ins, target)
    if not patched and not gaps and not restart_only:
        return Decision(Verdict.UNCHANGED)
    blockers = ins.blockers() + mismatches(host.vars, ins)
    method = ins.gathered.master.restart
    if method.kind == Unmanaged.KIND:  # nothing could apply a change, nor undo one: nothing is written
        blockers.append("no manager restarts this gunicorn (not under supervisor, docker-compose or systemd: "
                        "started by hand or by a plain `docker run`), so no change could be applied or undone by a "
                        "restart; run `invoke audit --path` on its tree and restart it yourself")
    if blockers:
        return Decision(Verdict.BLOCKED, "refused: " + "; ".join(blockers) + "; nothing was changed")
    if not verify_path(ins.gathered.app, host.vars, playbook):
        return Decision(Verdict.BLOCKED, f"refused: {missing_path_reason(host.name, playbook.path)}; "
                                         "nothing was changed")
    unprovable = playbook.verify.count_cannot_fail(target)
    if unprovable:
        return Decision(Verdict.BLOCKED, f"refused: {unprovable} in {playbook.path}; nothing was changed")
    if not patched and gaps:
        reasons = [f"/{f.file}:{f.line}: {f.reason}" for f in ins.audit.findings if f.action == "report"]
        return Decision(Verdict.UNREACHABLE_TARGET, "cannot reach the target: " + "; ".join(gaps[:3])
                        + (" (" + "; ".join(reasons[:3]) + ")" if reasons else ""))
    pre = check(ins, hosts_sharing_db(host, inventory), target=target)
    decision = Decision(Verdict.GO, restart_only=restart_only, warnings=pre.warnings, refusals=pre.refusals)
    if pre.refusals and not force:
        decision.verdict = Verdict.PREFLIGHT_REFUSED
        decision.reason = "refused: " + "; ".join(pre.refusals) + " (use --force to override)"
    return decision
