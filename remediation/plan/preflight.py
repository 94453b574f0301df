"""Pre-flight: what refuses a host (unless --force) and what only warns (pure)."""
from __future__ import annotations

from dataclasses import dataclass, field

from remediation.discovery.model import FindingCode
from remediation.discovery.worker_classes import is_gevent_like, refused_as
from remediation.plan.expectations import mismatches
from remediation.plan.inspection import Inspection
from remediation.versions import older_than


@dataclass
class Preflight:
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(ins: Inspection, hosts_sharing_db: int, host_vars: dict | None = None, target=None) -> Preflight:
    """`target`: the playbook's target as it applies to the host (plan/decide.host_target)."""
    result = Preflight()
    target = target or ins.target
    worker = ins.gunicorn.get("worker_class")
    if worker is None:
        result.refusals.append("could not read gunicorn's effective settings: "
                               + ("; ".join(ins.gathered.introspection.errors) or "unknown error"))
    elif kind := refused_as(worker):
        result.refusals.append(f"gunicorn runs {kind} ({worker}); switching it to {target.worker_class} "
                               "is not safe: review by hand")
    if ins.audit.patched:  # remediate refuses these even with --force
        result.refusals += ins.blockers() + mismatches(host_vars or {}, ins)
    for alias, db in ins.databases().items():
        if db.get("pool"):
            result.refusals.append(f"database {alias!r} uses Django's native pool (OPTIONS['pool']); "
                                   "CONN_MAX_AGE must stay 0 there")
    per_host = target.workers * max(1, target.threads)
    for alias, server in ins.db_server().items():
        limit = server.get("max_connections")
        if limit:
            needed = per_host * hosts_sharing_db
            if needed > limit:
                result.refusals.append(
                    f"database {alias!r}: {target.workers} workers x {target.threads} threads x "
                    f"{hosts_sharing_db} hosts = {needed} persistent connections > max_connections {limit}")
            elif needed > 0.8 * limit:
                result.warnings.append(f"database {alias!r}: {needed} persistent connections is over 80% of "
                                       f"max_connections {limit}")
        wait_timeout = server.get("wait_timeout")
        if wait_timeout and target.conn_max_age and wait_timeout < target.conn_max_age:
            result.warnings.append(f"database {alias!r}: wait_timeout {wait_timeout}s < CONN_MAX_AGE "
                                   f"{target.conn_max_age}s (health checks will reconnect dropped connections)")
        if server.get("error"):
            result.warnings.append(f"database {alias!r}: could not read the server's budget: {server['error']}")
    if target.conn_health_checks and older_than(ins.versions().get("django"), (4, 1)):
        result.warnings.append(f"Django {ins.versions().get('django')} ignores CONN_HEALTH_CHECKS (needs 4.1+)")
    for where in ins.gevent_code():
        result.warnings.append(f"gevent-specific code: {where}")
    if ins.gunicorn.get("preload_app"):
        result.warnings.append("preload_app is on: connections opened at import time are shared by forked workers")
    if is_gevent_like(worker):
        result.warnings.append(f"concurrency drops from {ins.gunicorn.get('workers')} x "
                               f"{ins.gunicorn.get('worker_connections')} in-flight (gevent) to "
                               f"{target.workers} x {target.threads} ({target.worker_class}); long-polling, "
                               "websockets or streaming need an async worker")
    for f in ins.audit.findings:
        if f.action == "report" and f.setting == "worker_class" and f.code != FindingCode.NOT_LIVE:
            result.warnings.append(f"{f.file}: {f.reason}")
    return result
