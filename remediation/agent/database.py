"""The database, seen from the host: the server's connection counters through a session kept
per connection, and the workers' new TCP connections to the DB endpoints through a window."""
import json

from remediation.agent.apps import app_command, op_introspect
from remediation.agent.core import on_exit, op, socket_inodes


SESSIONS = {}  # counter sessions of this agent, by app: one DB connection kept per alias


def session_line(proc, timeout):
    """One line of a counter session's output, or b"" when it ends or stays silent."""
    import select

    ready = select.select([proc.stdout], [], [], timeout)[0]
    return proc.stdout.readline() if ready else b""


@op("counters", parallel=True)
def op_counters(req):
    """The DB server's connection counters through a session kept for the whole connection: the
    first call starts it (one interpreter, one DB connect: `fresh`), later calls cost a query.
    With `view`, the reply also carries the app's view (introspect's reply): a fresh session
    prints it before it connects, a running one leaves it to a separate introspection."""
    # one session per container (a restart ends it) or per host: it outlives a gunicorn restart
    key = req.get("container") or ""
    timeout = req.get("timeout", 90)
    view = None
    for _attempt in range(2):
        proc, fresh = SESSIONS.get(key), False
        if proc is None or proc.poll() is not None:
            mode = "serve+view" if req.get("view") and view is None else "serve"
            argv, env, cwd, privs = app_command(req, [mode] + req.get("args", [])[1:])
            import subprocess

            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=env, cwd=cwd, **privs)
            SESSIONS[key], fresh = proc, True
            if mode == "serve+view":
                line = session_line(proc, timeout).decode("utf-8", "replace")
                view = {"rc": 0, "stdout": line, "stderr": "" if line else "the counter session printed no view"}
        elif req.get("view") and view is None:
            view = op_introspect(dict(req, args=["0"] + req.get("args", [])[1:]))
        try:
            proc.stdin.write(b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):  # the session died (a container restart): start another
            SESSIONS.pop(key, None)
            continue
        line = session_line(proc, timeout)
        if not line:
            SESSIONS.pop(key, None)
            proc.kill()
            if fresh:
                return with_view({"errors": ["the counter session did not answer"], "fresh": True}, view)
            continue
        reply = json.loads(line.decode("utf-8"))
        reply["fresh"] = fresh
        return with_view(reply, view)
    return with_view({"errors": ["the counter session keeps ending"], "fresh": True}, view)


def with_view(reply, view):
    """A counters reply, carrying the app's view when one was taken."""
    if view is not None:
        reply["view"] = view
    return reply


@on_exit
def end_sessions():
    for proc in SESSIONS.values():
        try:
            proc.stdin.close()
            proc.wait(5)
        except Exception:
            proc.kill()


WATCHES = {}  # connection watches of this agent, by id


def tcp_endpoint(host, port):
    """The (ip, port) pairs a DB HOST/PORT resolves to here, as /proc/net/tcp spells them."""
    import socket

    out = set()
    try:
        infos = socket.getaddrinfo(host or "127.0.0.1", int(port), proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        return out
    for family, _type, _proto, _name, addr in infos:
        packed = socket.inet_pton(family, addr[0])
        if family == socket.AF_INET:
            text = "%08X" % int.from_bytes(packed, "little")
        else:  # /proc/net/tcp6: four 32-bit words, each in host (little-endian) order
            text = "".join("%08X" % int.from_bytes(packed[i:i + 4], "little") for i in range(0, 16, 4))
        out.add("%s:%04X" % (text, int(port)))
    return out


def worker_sockets(master):
    """{socket inode: worker pid} of the master's children (the workers), read now."""
    try:
        children = open("/proc/%d/task/%d/children" % (master, master)).read().split()
    except OSError:
        return {}
    out = {}
    for pid in map(int, children):
        for inode in socket_inodes(pid) or ():
            out[inode] = pid
    return out


def tcp_connections(master, endpoints):
    """(local, remote, inode) of the workers' TCP sockets to an endpoint, from the kernel's tables
    of the workers' own network namespace."""
    inodes = worker_sockets(master)
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = open("/proc/%d/net/%s" % (master, table)).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[2] in endpoints and fields[9] in inodes:
                found.add((fields[1], fields[2], fields[9]))
    return found


def active_opens(master):
    """The kernel's count of TCP connects in the workers' network namespace (all its processes)."""
    try:
        rows = [line.split() for line in open("/proc/%d/net/snmp" % master) if line.startswith("Tcp:")]
        return int(rows[1][rows[0].index("ActiveOpens")])
    except (OSError, ValueError, IndexError):
        return None


@op("tcp_watch")
def op_tcp_watch(req):
    """Count the gunicorn workers' new TCP connections to the DB endpoints through a window: start
    samples the workers' sockets every `interval_ms` in a thread, stop returns what it saw. A
    connection that opens and closes between two samples is missed (the count is a lower bound);
    the namespace's ActiveOpens delta, every process's connects, is the upper bound."""
    import threading

    if req["action"] == "start":
        endpoints = set()
        for item in req["endpoints"]:
            endpoints |= tcp_endpoint(item.get("host"), item.get("port"))
        if not endpoints:
            return {"error": "no DB endpoint resolves on the host: %s" % ", ".join(
                "%s:%s" % (item.get("host"), item.get("port")) for item in req["endpoints"])}
        state = {"master": req["master"], "endpoints": endpoints, "stop": threading.Event(), "samples": 0,
                 "initial": tcp_connections(req["master"], endpoints), "seen": set(),
                 "opens": active_opens(req["master"]), "interval": req.get("interval_ms", 20) / 1000.0}

        def loop():
            while not state["stop"].is_set():
                state["seen"] |= tcp_connections(state["master"], state["endpoints"])
                state["samples"] += 1
                state["stop"].wait(state["interval"])

        state["thread"] = threading.Thread(target=loop, daemon=True)
        state["thread"].start()
        WATCHES[req["id"]] = state
        return {"ok": True, "endpoints": sorted(endpoints), "open_at_start": len(state["initial"])}
    state = WATCHES.pop(req["id"], None)
    if state is None:
        return {"error": "no such watch"}
    state["stop"].set()
    state["thread"].join(5)
    state["seen"] |= tcp_connections(state["master"], state["endpoints"])
    opens = active_opens(state["master"])
    new = state["seen"] - state["initial"]
    return {"new": len(new), "samples": state["samples"], "interval_ms": int(state["interval"] * 1000),
            "connections": sorted("%s->%s" % (local, remote) for local, remote, _inode in new)[:50],
            "open_at_start": len(state["initial"]),
            "active_opens": (opens - state["opens"]) if opens is not None and state["opens"] is not None else None}
