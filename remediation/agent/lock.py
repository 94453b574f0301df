"""The host's remediation lock: one run at a time per host."""
import json
import os
import time

from remediation.agent.core import op


LOCK_PATH = "/run/lock/remediation.lock"


@op("lock")
def op_lock(req):
    """Take the host's remediation lock atomically; a lock of the same run is taken over."""
    path = req.get("path", LOCK_PATH)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mine = {"run_id": req["run_id"], "controller": req.get("controller"), "pid": req.get("pid"),
            "since": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                with open(path) as fh:
                    holder = json.load(fh)
            except (OSError, ValueError):
                holder = {"run_id": "unknown (unreadable lock file)"}
            if holder.get("run_id") == req["run_id"] or req.get("break"):
                os.unlink(path)
                continue
            return {"ok": False, "holder": holder}
        with os.fdopen(fd, "w") as fh:
            json.dump(mine, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return {"ok": True}
    return {"ok": False, "holder": {"run_id": "unknown (lock file keeps reappearing)"}}


@op("unlock")
def op_unlock(req):
    """Release the lock if this run holds it (or unconditionally with `break`)."""
    path = req.get("path", LOCK_PATH)
    try:
        with open(path) as fh:
            holder = json.load(fh)
    except FileNotFoundError:
        return {"ok": True, "held": False}
    except (OSError, ValueError):
        holder = {}
    if holder.get("run_id") != req.get("run_id") and not req.get("break"):
        return {"ok": False, "holder": holder}
    os.unlink(path)
    return {"ok": True, "held": True, "holder": holder}
