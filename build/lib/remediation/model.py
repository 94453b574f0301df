"""The wanted end state of one remediation: gunicorn worker sizing and Django DB settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """Values the tool converges every live gunicorn and DATABASES source to."""

    worker_class: str = "gthread"
    workers: int = 2
    threads: int = 8
    worker_connections: int = 1000
    conn_max_age: int = 600
    conn_health_checks: bool = True

    @classmethod
    def sync(cls) -> "Target":
        """The alternative target: sync workers, one thread each."""
        return cls(worker_class="sync", workers=4, threads=1)
