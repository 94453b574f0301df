"""Logs: the tail of each log source, or what was appended since an offset or a time. A source's
kind is a file here; managers add theirs (docker, journal) with @log_kind."""
import time

from remediation.agent.core import LOG_KINDS, op


@op("logs", parallel=True)
def op_logs(req):
    """Tail of each log source, or what was appended since an offset / a time (docker)."""
    out = {"_offsets": {}, "_time": time.time()}
    for item in req["sources"]:
        if item["kind"] == "file":
            try:
                with open(item["path"], "rb") as fh:
                    fh.seek(0, 2)
                    size = fh.tell()
                    start = item.get("offset")
                    if start is None or start > size:
                        start = max(0, size - req.get("bytes", 65536))
                    fh.seek(start)
                    out[item["key"]] = fh.read().decode("utf-8", "replace")
                    out["_offsets"][item["key"]] = size
            except OSError as exc:
                out[item["key"]] = {"error": str(exc)}
        else:
            out[item["key"]] = LOG_KINDS[item["kind"]](item, req)
    return out
