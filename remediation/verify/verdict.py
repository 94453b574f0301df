"""Did the remediation work? The before/after record, and every check that can fail it (pure)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from remediation.config.playbook import Playbook
from remediation.plan.decide import live_kind
from remediation.model import Target
from remediation.verify.measure import Measurement, percentile
from remediation.verify.worker_proof import LogEvidence, ProcessEvidence, judge_worker


def metrics(gunicorn: dict, databases: dict, m: Measurement | None) -> dict:
    """The before/after record the report and the summary table show."""
    default = databases.get("default") or next(iter(databases.values()), {})
    s = m.summary() if m else {}
    return {
        "worker_class": gunicorn.get("worker_class"), "workers": gunicorn.get("workers"),
        "threads": gunicorn.get("threads"), "worker_connections": gunicorn.get("worker_connections"),
        "conn_max_age": default.get("CONN_MAX_AGE"), "conn_health_checks": default.get("CONN_HEALTH_CHECKS"),
        "request_ms_p50": s.get("request_ms_p50"), "request_ms_p95": s.get("request_ms_p95"),
        "new_db_connections": s.get("new_db_connections"),
        "new_db_connections_per_100": s.get("new_db_connections_per_100"), "acquire_ms_p50": s.get("acquire_ms_p50"),
        "acquire_ms_p95": s.get("acquire_ms_p95"), "acquire_ms_p95_reused": s.get("acquire_ms_p95_reused"),
        "requests": s.get("requests"), "errors": s.get("errors"),
        "db_counter_scope": s.get("db_counter_scope"), "worker_threads": s.get("worker_threads"),
        "server_new_connections": s.get("server_new_connections"),  # the DB server's count, a cross-check
    }


def baseline_unproving(gunicorn: dict, databases: dict, baseline: Measurement) -> str | None:
    """Why the baseline cannot make the after-measurement proof of reuse, None when it can.

    Under gevent (or with CONN_MAX_AGE 0) every request opens a connection, so a baseline that
    counted none was measured on a page that does not touch the database: no after-count on it
    could tell reuse from no use. A baseline that already reuses (a threaded app that only lacks
    health checks) proves nothing and needs nothing proven; a count that could not be taken
    (None) leaves the judgement to the other checks."""
    expected = live_kind(gunicorn) == "gevent" or any(db.get("CONN_MAX_AGE") == 0 and not db.get("pool") for db in databases.values())
    if not expected or baseline.new_db_connections != 0 or baseline.errors == baseline.requests:
        return None
    return (f"cannot prove reuse: the baseline's {baseline.requests} requests opened no new DB connection "
            f"(counted {baseline.db_counter_scope or 'on the DB server'}), so the page does not touch the database")


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)  # any one fails verification
    warnings: list[str] = field(default_factory=list)


def could_be_connect(acquire_ms: float, connect_ms: float) -> bool:
    """An acquisition at least half the baseline's (a full connect each under gevent) may be a
    new connection; anything faster is a reused one, however slow."""
    return acquire_ms >= connect_ms / 2


def connects_in_log(before: dict | None, after: Measurement) -> int | None:
    """Requests whose acquisition could be a connect: connects the app itself logged; None
    without a baseline or acquisition lines."""
    connect_ms = (before or {}).get("acquire_ms_p50")
    if not connect_ms or not after.acquire_ms:
        return None
    return sum(1 for ms in after.acquire_ms if could_be_connect(ms, connect_ms))


def _connections(before: dict | None, after: Measurement, playbook: Playbook, target: Target,
                 verdict: Verdict) -> None:
    limit = playbook.verify.max_new_connections(target)
    if after.new_db_connections is None or after.new_db_connections <= limit:
        return
    connects = connects_in_log(before, after)
    if after.db_counter_scope == "server" and connects is not None and connects <= limit:
        # a server-wide counter (no per-user statistics) also counts every other client of the
        # server, e.g. the other hosts of a parallel rollout: the app's own log decides
        verdict.warnings.append(
            f"the DB server's connection counter is server-wide: {after.new_db_connections} new connections "
            f"in the window include other clients; the app's log shows {connects} connect(s) in "
            f"{after.requests} requests (limit {limit})")
    else:
        verdict.problems.append(f"{after.new_db_connections} new DB connections in {after.requests} requests "
                                f"after warm-up (limit {limit})")


def health_checks_only(before: dict | None, result: dict) -> bool:
    """The baseline reused its connections (none new) and the change turned CONN_HEALTH_CHECKS on:
    the requests' only new cost is the check's round trip to the database, expected and reported."""
    return bool(before) and before.get("new_db_connections") == 0 and not before.get("conn_health_checks") \
        and result.get("conn_health_checks") is True and before.get("worker_class") == result.get("worker_class")


def _latency(before: dict | None, result: dict, after: Measurement, playbook: Playbook,
             verdict: Verdict) -> list[str]:
    th = playbook.verify.thresholds
    problems = []
    p95_after = result["request_ms_p95"]
    p95_before = before.get("request_ms_p95") if before else None
    if th.max_request_ms_p95 is not None and p95_after is not None and p95_after > th.max_request_ms_p95:
        problems.append(f"request p95 {p95_after} ms > {th.max_request_ms_p95} ms")
    if th.max_p95_ratio is not None and p95_after is not None and p95_before:
        if p95_after > p95_before * th.max_p95_ratio:
            message = f"request p95 {p95_after} ms > {th.max_p95_ratio} x baseline {p95_before} ms"
            if health_checks_only(before, result):
                verdict.warnings.append(f"{message}: the baseline already reused its connections, so the one "
                                        "change on the request path is CONN_HEALTH_CHECKS, one DB round trip per "
                                        "request (its cost on this host's link to the database)")
            else:
                problems.append(message)
    if playbook.verify.log_pattern and th.max_acquire_ms_p95 is not None:
        if not after.acquire_ms:  # an optional extra: many apps log nothing of the kind
            verdict.warnings.append("no acquisition-time lines matched verify.log_pattern in the app log: "
                                    "reuse was judged from the new-connection count alone")
        else:
            problem, warning = slow_reused_acquisition(before, after, th.max_acquire_ms_p95)
            problems += [problem] if problem else []
            verdict.warnings += [warning] if warning else []
    return problems


def slow_reused_acquisition(before: dict | None, after: Measurement, limit_ms: float) -> tuple[str | None, str | None]:
    """(problem, warning) for the acquisition times of reused connections against `limit_ms`.

    A p95 over the limit fails unless every sign says the slow samples were no connects: the
    new-connection count ran, the typical (p50) reused acquisition is within the limit, and the
    slowest is under half the baseline's full connect. Then it is the worker thread waiting for
    a CPU (20 apps on 2 CPUs: 173 ms once in 10, against a 3.4 s connect), reported, not a
    reason to roll back a host whose connections are reused."""
    reused = after.reused_acquire_ms()
    if not reused:
        return None, None
    p95, p50 = percentile(reused, 95), statistics.median(reused)
    if p95 <= limit_ms:
        return None, None
    text = (f"connection acquisition p95 {round(p95, 2)} ms on reused connections > {limit_ms} ms "
            f"(p50 {round(p50, 2)} ms, {after.new_db_connections} new connections)")
    connect_ms = (before or {}).get("acquire_ms_p50")
    if (after.new_db_connections is not None and p50 <= limit_ms and connect_ms
            and not could_be_connect(max(reused), connect_ms)):
        return None, (f"{text}: slower than the limit yet far from the baseline's {connect_ms} ms connect, "
                      "so a wait for the CPU, not a new connection")
    return text, None


def judge(before: dict | None, result: dict, after: Measurement, playbook: Playbook, target: Target,
          process: ProcessEvidence, log: LogEvidence) -> Verdict:
    """Every check of the after-measurement against the host's target, the baseline and the
    thresholds. The worker class is proven from the restarted process; the log only adds."""
    problems, warnings = judge_worker(process, log, target.worker_class)
    verdict = Verdict(problems, warnings)
    if after.errors:
        verdict.problems.append(f"{after.errors} of {after.requests} requests failed")
    _connections(before, after, playbook, target, verdict)
    verdict.problems += _latency(before, result, after, playbook, verdict)
    return verdict
