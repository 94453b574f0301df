"""The per-host stage board a fleet operation updates and a view (rich Live or lines) reads."""
from __future__ import annotations

import threading
import time
from typing import Callable


class Progress:
    """Thread-safe per-host stage board; the view (rich Live or plain lines) reads it."""

    def __init__(self, on_change: Callable[[], None] | None = None):
        self.lock = threading.Lock()
        self.rows: dict[str, dict] = {}
        self.batch = ""
        self.on_change = on_change or (lambda: None)

    def set_batch(self, text: str) -> None:
        with self.lock:
            self.batch = text
        self.on_change()

    def update(self, host: str, stage: str, status: str | None = None) -> None:
        with self.lock:
            row = self.rows.setdefault(host, {"stage": stage, "status": "running", "started": time.monotonic(),
                                              "ended": None})
            row["stage"] = stage
            if status:
                row["status"] = status
                row["ended"] = time.monotonic()
        self.on_change()

    def snapshot(self) -> tuple[str, dict]:
        with self.lock:
            return self.batch, {h: dict(r) for h, r in self.rows.items()}
