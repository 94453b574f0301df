"""A per-host lock, taken over SSH, so two runs never change one host at once.

The lock file (/run/lock/remediation.lock, gone at reboot) names the run id, the
controller and its pid. A run can take over its own lock (resume, rollback of that
run); anything else is refused with the holder named. `invoke unlock` breaks a stale one.
"""
from __future__ import annotations

import datetime
import os
import socket

from remediation.errors import LockHeld
from remediation.transport.remote import Remote


def describe(holder: dict) -> str:
    since = holder.get("since")
    when = datetime.datetime.fromtimestamp(since, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if since else "?"
    return (f"run {holder.get('run_id')} from {holder.get('controller') or '?'} (pid {holder.get('pid') or '?'}, "
            f"since {when})")


def acquire(remote: Remote, run_id: str) -> None:
    reply = remote.lock(run_id, controller=socket.gethostname(), pid=os.getpid())
    if not reply.ok:
        raise LockHeld(f"{remote.host.name}: locked by {describe(reply.data.get('holder') or {})}; if that run is dead, "
                       f"break the lock with `invoke unlock --host {remote.host.name}`")


def release(remote: Remote, run_id: str) -> None:
    remote.unlock(run_id)


def break_lock(remote: Remote) -> dict | None:
    reply = remote.unlock(break_=True)
    return reply.get("holder") if reply.get("held") else None
