"""Ground-truth measurements on the lab: timed requests plus the database server's own counts.

This is the lab's referee, independent of the tool under test: it reads counters as
the database superuser on the controller, and the app's per-request timings.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field

from lab import config

from lab import databases
from lab.config import HostSpec
from lab.lab import http_get

ENDPOINT = config.VERIFY_PATH


@dataclass
class Sample:
    """What N sequential requests to one host cost, and what the database saw."""

    host: str
    requests: int
    request_ms: list[float] = field(default_factory=list)
    acquire_ms: list[float] = field(default_factory=list)
    health_check_ms: list[float] = field(default_factory=list)
    new_in_app: int = 0  # requests whose thread had to open a connection
    connection_ids: list = field(default_factory=list)
    new_db_connections: int = 0  # counted by the database server
    open_after: int = 0  # the host's connections still open on the server afterwards

    @staticmethod
    def _pct(values: list[float], pct: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]

    def summary(self) -> dict:
        return {
            "host": self.host, "requests": self.requests,
            "request_ms_p50": _round(statistics.median(self.request_ms)),
            "request_ms_p95": _round(self._pct(self.request_ms, 95)),
            "acquire_ms_p50": _round(statistics.median(self.acquire_ms)),
            "acquire_ms_p95": _round(self._pct(self.acquire_ms, 95)),
            "health_check_ms_p50": _round(statistics.median(self.health_check_ms)),
            "new_db_connections": self.new_db_connections,
            "new_db_connections_per_request": round(self.new_db_connections / self.requests, 2),
            "distinct_connection_ids": len(set(self.connection_ids)),
            "open_after": self.open_after,
        }

    def as_dict(self) -> dict:
        return asdict(self)


def _round(value):
    return None if value is None else round(value, 2)


def request_once(spec: HostSpec) -> tuple[float, dict]:
    started = time.perf_counter()
    status, body = http_get(f"http://{spec.address}:{config.APP_PORT}{ENDPOINT}", timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"{spec.name}: HTTP {status}")
    return elapsed, json.loads(body)


def sample(spec: HostSpec, requests: int, warmup: int = 0) -> Sample:
    """Warm up, then time `requests` sequential requests while the server counts connections."""
    for _ in range(warmup):
        request_once(spec)
    before = databases.new_connection_counter(spec.database, spec.db_name, spec.db_user)
    result = Sample(spec.name, requests)
    for _ in range(requests):
        elapsed, body = request_once(spec)
        result.request_ms.append(elapsed)
        result.acquire_ms.append(body["acquire_ms"])
        result.health_check_ms.append(body["health_check_ms"])
        result.new_in_app += int(body["new_connection"])
        result.connection_ids.append(body["db_connection_id"])
    result.new_db_connections = databases.new_connection_counter(spec.database, spec.db_name, spec.db_user) - before
    result.open_after = databases.open_connections(spec.database, spec.db_user)
    return result
