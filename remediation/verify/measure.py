"""Measure a host over SSH: timed requests, the DB server's new-connection count, the
app's own acquisition-time log lines, and which worker class is live.

The numbers say what they measured: request time is curl's time_total on the host,
new connections come from the database server's cumulative counter (scope reported),
acquisition times come from the app's log via the playbook's pattern.
"""
from __future__ import annotations

import re
import statistics
import time
from dataclasses import asdict, dataclass, field

from remediation.facts.gather import Gathered, counters_op
from remediation.plan.inspection import USING_WORKER
from remediation.transport.protocol import TcpWatchStart
from remediation.transport.remote import Remote, Started

REQUESTS_SCRIPT = (
    # n timed requests, `width` at a time (rounds: a slow request holds its round back, never
    # more than `width` are in flight); one line per request, written whole even when curl fails;
    # the host's clock before the first and after the last (the window's own length); $4: each
    # request's limit in seconds (the playbook's verify.timeout_s)
    'url=$1; n=$2; width=$3; t=${4:-30}; date +%s.%N; i=0; '
    'while [ "$i" -lt "$n" ]; do j=0; '
    'while [ "$j" -lt "$width" ] && [ "$i" -lt "$n" ]; do '
    '( r=$(curl -s -o /dev/null -w "%{http_code} %{time_total}" --max-time "$t" "$url"); '
    'echo "${r:-000 0}" ) & i=$((i+1)); j=$((j+1)); done; wait; done; echo "end $(date +%s.%N)"'
)


WARMUP_SCRIPT = (
    'url=$1; rounds=$2; width=$3; t=${4:-30}; r=0; '
    'while [ "$r" -lt "$rounds" ]; do i=0; '
    'while [ "$i" -lt "$width" ]; do curl -s -o /dev/null --max-time "$t" "$url" & i=$((i+1)); done; '
    'wait; r=$((r+1)); done'
)


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@dataclass
class Measurement:
    requests: int = 0
    errors: int = 0
    request_ms: list[float] = field(default_factory=list)
    acquire_ms: list[float] = field(default_factory=list)
    new_db_connections: int | None = None
    db_counter_scope: str | None = None
    worker_class_logged: str | None = None
    worker_threads: list[int] = field(default_factory=list)
    server_new_connections: int | None = None  # the DB server's counter (cross-check when the host count ran)
    host_watch: dict | None = None  # the workers' sockets to the DB, sampled through the window
    window_s: float | None = None  # the timed requests' own wall time, on the host's clock

    def reused_acquire_ms(self) -> list[float]:
        """Acquisition times without the slowest k, k = new connections the DB server counted:
        each new connection explains one full connect; the rest must be reuse."""
        k = self.new_db_connections or 0
        ordered = sorted(self.acquire_ms)
        return ordered[:max(0, len(ordered) - k)]

    def per_100(self) -> float | None:
        """New DB connections per 100 requests (the figure before and after compare on)."""
        if self.new_db_connections is None or not self.requests:
            return None
        return round(100 * self.new_db_connections / self.requests, 1)

    def summary(self) -> dict:
        r, a = self.request_ms, self.acquire_ms
        reused = self.reused_acquire_ms()
        return {
            "requests": self.requests, "errors": self.errors,
            "request_ms_p50": _r(statistics.median(r)) if r else None, "request_ms_p95": _r(percentile(r, 95)),
            "acquire_ms_p50": _r(statistics.median(a)) if a else None, "acquire_ms_p95": _r(percentile(a, 95)),
            "acquire_samples": len(a), "acquire_ms_p95_reused": _r(percentile(reused, 95)),
            "new_db_connections": self.new_db_connections,
            "new_db_connections_per_100": self.per_100(),
            "db_counter_scope": self.db_counter_scope, "worker_class_logged": self.worker_class_logged,
            "worker_threads": self.worker_threads, "server_new_connections": self.server_new_connections,
            "host_watch": self.host_watch,
        }

    def as_dict(self) -> dict:
        return asdict(self)


def _r(value):
    return None if value is None else round(value, 2)


def app_url(gathered: Gathered, host_vars: dict, path: str | None, port: int | None) -> str | None:
    """Where to send verification requests from the host itself: `path` is VerifySpec.path_for's
    (None when the host has none, and then so is the URL). The port: the playbook's, else the
    inventory's (`remediation_app_port`, only where one app runs), else the app's own listening
    socket (/proc), else its configured bind; on the host a socket bound to one address is
    asked there (a container's socket is in its own namespace: its port, on 127.0.0.1)."""
    if not path:
        return None
    single = len(gathered.facts.masters) <= 1
    if host_vars.get("remediation_app_url") and single:
        return str(host_vars["remediation_app_url"]).rstrip("/") + path
    address = "127.0.0.1"
    if port is None and single:
        port = host_vars.get("remediation_app_port")
    if port is None and gathered.master.listen:
        address, _, text = gathered.master.listen[0].rpartition(":")
        port = int(text)
        if gathered.master.in_container or address in ("0.0.0.0", "[::]"):
            address = "127.0.0.1"
        port = gathered.master.published.get(port, port)  # a container's own network: the published port
    if port is None:
        for bind in gathered.introspection.gunicorn.get("bind") or []:
            # "host:port" or "[::1]:port"; a bare host or "[::1]" has no port here (gunicorn: 8000)
            if not bind.startswith(("unix:", "fd://")) and bind.rsplit(":", 1)[-1].isdigit() and ":" in bind:
                port = int(bind.rsplit(":", 1)[1])
                break
    return f"http://{address}:{int(port or 8000)}{path}"


def db_counters(remote: Remote, gathered: Gathered) -> tuple[dict[str, dict], bool]:
    """The DB server's cumulative connection counters, read through the app's own settings by a
    session the agent keeps (one connection per alias); True when this read opened it."""
    reply = remote.counters(counters_op(gathered.master))
    if reply.get("errors"):
        return {}, bool(reply.get("fresh"))
    return reply.get("db_server", {}), bool(reply.get("fresh"))


def _counter_total(counters: dict) -> tuple[int | None, str | None]:
    total, scopes = 0, set()
    for info in counters.values():
        if "connections_total" not in info:
            return None, None
        total += info["connections_total"]
        scopes.add(info.get("counter_scope", "server"))
    return total, ",".join(sorted(scopes)) or None


def parse_requests(stdout: str) -> tuple[float, list[tuple[int, float]], float | None]:
    """REQUESTS_SCRIPT's output: its start time, (HTTP status, milliseconds) per request, and
    the seconds from the first request's start to the last one's end (None if cut short)."""
    lines = stdout.split("\n")
    started, ended = float(lines[0]), None
    rows = []
    for line in lines[1:]:
        if line.startswith("end "):
            ended = float(line.split()[1])
        elif line.strip():
            code, seconds = line.split()
            rows.append((int(code), float(seconds) * 1000))
    return started, rows, (round(ended - started, 3) if ended is not None else None)


DEFAULT_PORTS = {"postgresql": 5432, "postgis": 5432, "mysql": 3306}


def db_endpoints(gathered: Gathered) -> list[dict]:
    """Where the app's databases listen, as its own settings say (HOST/PORT, engine default port);
    a unix socket (no HOST) has no TCP endpoint to watch."""
    out = []
    for db in gathered.introspection.databases.values():
        host, engine = db.get("HOST") or "", (db.get("ENGINE") or "").rsplit(".", 1)[-1]
        port = db.get("PORT") or DEFAULT_PORTS.get(engine)
        if host and not host.startswith("/") and port:
            out.append({"host": host, "port": int(port)})
    return out


def start_watch(remote: Remote, gathered: Gathered) -> str | None:
    """Start counting the workers' new connections to the DB on the host (None when it cannot)."""
    endpoints = db_endpoints(gathered)
    if not endpoints:
        return None
    watch_id = f"{gathered.master.pid}-{time.monotonic_ns()}"
    reply = remote.tcp_watch_start(TcpWatchStart(watch_id, gathered.master.pid, endpoints))
    return watch_id if reply.get("ok") else None


@dataclass
class PendingMeasurement:
    """A measurement whose timed requests run on the host while the controller does other work."""
    remote: Remote
    gathered: Gathered
    requests: int
    log_pattern: str | None
    count_db: bool
    source: dict | None
    before: dict
    started: Started
    watch: str | None = None


def start_measure(remote: Remote, gathered: Gathered, url: str, requests: int, warmup: int,
                  log_pattern: str | None, count_db: bool = True, concurrency: int = 1,
                  request_timeout_s: int = 30) -> PendingMeasurement:
    """Warm up, read the counters, and start `requests` timed requests, `concurrency` at a time,
    each allowed `request_timeout_s` (the playbook's verify.timeout_s); finish_measure collects.

    The warm-up sends `warmup` requests `warmup` at a time, twice, so that every worker
    thread has served (and connected) before the window; sequential requests would keep
    hitting the same idle thread and leave others cold."""
    if warmup:
        warming = remote.start(["sh", "-c", WARMUP_SCRIPT, "sh", url, "2", str(warmup), str(request_timeout_s)],
                               timeout=2 * (request_timeout_s + 5) + 50)
        if count_db:  # meanwhile (re)start the counter session, which a container restart ended
            db_counters(remote, gathered)
        remote.finish(warming)
    source = dict(gathered.log_source) if gathered.log_source else None
    if source and source["kind"] == "file":
        offsets = remote.logs([source], bytes=0)["_offsets"]
        source["offset"] = offsets.get("app")
    before, _fresh = db_counters(remote, gathered) if count_db else ({}, False)
    watch = start_watch(remote, gathered) if count_db else None
    width = max(1, min(concurrency, requests))
    started = remote.start(["sh", "-c", REQUESTS_SCRIPT, "sh", url, str(requests), str(width), str(request_timeout_s)],
                           timeout=60 + (request_timeout_s + 5) * -(-requests // width))
    return PendingMeasurement(remote, gathered, requests, log_pattern, count_db, source, before, started, watch)


def finish_measure(pending: PendingMeasurement) -> Measurement:
    """Wait for the timed requests, then count the DB connections they opened and read the log."""
    remote, gathered, requests = pending.remote, pending.gathered, pending.requests
    started, rows, window_s = parse_requests(remote.finish(pending.started).stdout)
    watched = remote.tcp_watch_stop(pending.watch) if pending.watch else None
    after, after_fresh = db_counters(remote, gathered) if pending.count_db else ({}, False)
    m = Measurement(requests=requests, window_s=window_s)
    m.request_ms = [ms for code, ms in rows if code == 200]
    m.errors = sum(1 for code, _ in rows if code != 200)
    b, scope = _counter_total(pending.before)
    a, _ = _counter_total(after)
    if b is not None and a is not None:
        # a counter read that had to start its session opened one connection itself
        m.new_db_connections = max(0, a - b - (1 if after_fresh else 0))
        m.db_counter_scope = scope
    if watched is not None and "new" in watched:  # per host, other clients of the server cannot pollute it
        m.server_new_connections, m.host_watch = m.new_db_connections, dict(watched)
        m.new_db_connections, m.db_counter_scope = watched["new"], "host"
    source = pending.source
    if source:
        if source["kind"] != "file":  # files read from an offset, the managers' sources (docker, journal) since a time
            source["since"] = started
        logs = remote.logs([source], bytes=1 << 20).get("app")
        text = logs if isinstance(logs, str) else ""
        if pending.log_pattern:
            pattern = re.compile(pending.log_pattern)
            m.acquire_ms = [float(match.group("ms")) for match in pattern.finditer(text)][-requests:]
        found = USING_WORKER.findall(text)
        m.worker_class_logged = found[-1] if found else None
    return m


def measure(remote: Remote, gathered: Gathered, url: str, requests: int, warmup: int,
            log_pattern: str | None, count_db: bool = True, concurrency: int = 1,
            request_timeout_s: int = 30) -> Measurement:
    """Warm up, then time `requests` requests and count the DB connections they opened."""
    return finish_measure(start_measure(remote, gathered, url, requests, warmup, log_pattern, count_db,
                                        concurrency, request_timeout_s))
