"""Live traffic for the lab: steady requests to every host while a rollout runs, and DB
connections from other clients while a host is measured.

`Traffic` sends each host one request at a time (with a pause between) to its own URL from a
thread per host, and stops by itself after `seconds` or `max_requests` per host, whichever
comes first, so a hung test cannot leave it running. What each host answered is kept for the
test to judge (requests during a restart may fail; none may be left unanswered forever).
`churn` opens and closes connections to a database as another client would.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from lab import config


@dataclass
class HostTraffic:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)  # HTTP status, or 0 for no answer
    last: int | None = None  # the status of the latest request


class Traffic:
    """Requests to every host's URL until stopped, `seconds` pass, or `max_requests` each were sent."""

    def __init__(self, urls: dict[str, str], seconds: float = 300, max_requests: int = 2000, pause: float = 0.1,
                 timeout: float = 10):
        self.urls, self.seconds, self.max_requests = urls, seconds, max_requests
        self.pause, self.timeout = pause, timeout
        self.hosts = {name: HostTraffic() for name in urls}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(name,), daemon=True, name=f"traffic-{name}")
                         for name in urls]
        self.started = self.stopped = 0.0

    def __enter__(self) -> "Traffic":
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.stopped = self.stopped or time.monotonic()

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _loop(self, name: str) -> None:
        record, deadline = self.hosts[name], self.started + self.seconds
        while not self._stop.is_set() and time.monotonic() < deadline and record.sent < self.max_requests:
            record.sent += 1
            try:
                with urllib.request.urlopen(self.urls[name], timeout=self.timeout) as resp:  # noqa: S310 (lab)
                    resp.read()
                    record.last = resp.status
            except urllib.error.HTTPError as exc:
                record.last = exc.code
            except OSError:
                record.last = 0
            record.statuses[record.last] += 1
            self._stop.wait(self.pause if record.last == 200 else max(self.pause, 0.5))  # a restart: back off
        if not self._stop.is_set():
            self.stopped = max(self.stopped, time.monotonic())


def churn(engine: str, database: str, user: str, password: str, stop: threading.Event) -> int:
    """Open and close connections to `database` as `user` until `stop` is set (over TCP on loopback:
    another client of the same server, database and role); how many were opened."""
    if engine == "postgres":
        args = ["psql", "-h", "127.0.0.1", "-p", str(config.PG_PORT), "-U", user, "-d", database, "-XAtqc", "SELECT 1"]
        env = {**os.environ, "PGPASSWORD": password}
    else:
        args = ["mariadb", "-h", "127.0.0.1", "-P", str(config.MARIADB_PORT), "-u", user, database, "-e", "SELECT 1"]
        env = {**os.environ, "MYSQL_PWD": password}
    opened = 0
    while not stop.is_set():
        opened += subprocess.run(args, env=env, capture_output=True, timeout=30, check=False).returncode == 0
    return opened
