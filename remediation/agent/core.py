"""The host agent's core (stdlib only, Python 3.6+): what every part shares, the op registry
and the serve loop.

The agent is one payload assembled at send time (remediation/transport/payload.py) from these
modules and each registered manager's probe, run as `sudo -n python3 -I -S -c STUB AGENT_B64
--serve`: one JSON request per line on stdin, one JSON reply per line, for the whole SSH
connection (without --serve: one request, one reply). Secrets never leave the host: process
environments are filtered to gunicorn/Django keys here. It starts on every host of a fleet sweep,
so modules only some operations need are imported inside them.

Each part registers what it adds: @op(name) an operation, @master_probe what a manager knows of
a gunicorn master, @host_probe a key of the probe's reply, @log_kind a kind of log source, @on_exit
what to close when the agent ends.
"""
import base64
import hashlib
import json
import os
import sys

ENV_KEYS = ("DJANGO_SETTINGS_MODULE", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PYTHONPATH",
            "VIRTUAL_ENV", "PORT")
MAX_FILE = 1024 * 1024
MAX_ENV_NAMES = 4096


def b64(data):
    return base64.b64encode(data).decode("ascii")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def run(argv, timeout=60, stdin=None, env=None, cwd=None, privs=None):
    import subprocess  # here, like the other imports only some operations need: a fleet survey's
    # agent runs no command, and every import is CPU on each host of the fleet

    try:
        proc = subprocess.run(argv, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, env=env, cwd=cwd, **(privs or {}))
    except FileNotFoundError:
        if cwd and not os.path.isdir(cwd):
            return {"rc": 127, "stdout": "", "stderr": "working directory not found: %s" % cwd}
        return {"rc": 127, "stdout": "", "stderr": "not found: %s" % argv[0]}
    except subprocess.TimeoutExpired:
        return {"rc": 124, "stdout": "", "stderr": "timed out after %ss: %s" % (timeout, argv[0])}
    return {"rc": proc.returncode, "stdout": proc.stdout.decode("utf-8", "replace"),
            "stderr": proc.stderr.decode("utf-8", "replace")}


def read_proc(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as fh:
            return fh.read()
    except OSError:
        return None


def read_proc_file(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


OPS = {}  # op name -> function(request) -> reply
PARALLEL_OPS = set()  # read-only, independent: may run at once when a request asks `parallel`
MASTER_PROBES = []  # function(master, context): adds a manager's facts to a probed master
HOST_PROBES = []  # function(masters) -> dict: adds keys to the probe's reply
LOG_KINDS = {}  # log source kind -> function(item, request) -> text or {"error": ...}
EXIT_HOOKS = []  # called when the agent ends


def socket_inodes(pid):
    """The inodes ("socket:[N]" links in /proc/PID/fd) of a process's sockets; None unreadable."""
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    inodes = set()
    for name in names:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def op(name, parallel=False):
    """Register an operation (`parallel`: read-only, may run beside the others of a request)."""
    def register(fn):
        OPS[name] = fn
        if parallel:
            PARALLEL_OPS.add(name)
        return fn
    return register


def master_probe(fn):
    """Register a manager's probe of each gunicorn master: fn(master, context), where context
    holds "by_pid" (the process table) and "cache" (shared by the masters of one probe)."""
    MASTER_PROBES.append(fn)
    return fn


def host_probe(fn):
    """Register a host-wide part of the probe's reply: fn(masters) -> dict of reply keys."""
    HOST_PROBES.append(fn)
    return fn


def log_kind(name):
    """Register a kind of log source: fn(item, request) -> text, or {"error": ...}."""
    def register(fn):
        LOG_KINDS[name] = fn
        return fn
    return register


def on_exit(fn):
    """Register what to close when the agent ends."""
    EXIT_HOOKS.append(fn)
    return fn


def end():
    for fn in EXIT_HOOKS:
        fn()


def answer(item):
    try:
        return OPS[item["op"]](item)
    except Exception as exc:  # reported to the controller, never a partial silent success
        return {"agent_error": "%s: %s" % (type(exc).__name__, exc)}


def handle(req):
    """The replies to a request's ops, in order; read-only ops asked `parallel` run at once
    (an introspection's interpreter start overlaps the counter session's DB connect)."""
    ops = req["ops"]
    if not req.get("parallel") or len(ops) < 2 or any(item["op"] not in PARALLEL_OPS for item in ops):
        return {"replies": [answer(item) for item in ops]}
    import threading

    replies = [None] * len(ops)

    def work(index):
        replies[index] = answer(ops[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(ops))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"replies": replies}


def main():
    """One request on stdin, one reply on stdout; with --serve, one JSON line each, until EOF
    (one sudo and one interpreter start per SSH connection instead of per round trip)."""
    if "--serve" not in sys.argv:
        try:
            sys.stdout.write(json.dumps(handle(json.loads(sys.stdin.read()))))
        finally:
            end()
        return
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        for line in iter(stdin.readline, b""):
            stdout.write(json.dumps(handle(json.loads(line.decode("utf-8")))).encode("utf-8") + b"\n")
            stdout.flush()
    finally:
        end()
