"""The processes: the /proc table, which of them are gunicorn masters, and the `probe` op that
describes each master (each registered manager's probe adds what its manager knows)."""
import os
import pwd
import sys
import time

from remediation.agent.core import ENV_KEYS, HOST_PROBES, MASTER_PROBES, MAX_ENV_NAMES, op, read_proc, read_proc_file, socket_inodes


def proc_table():
    rows = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        raw = read_proc(pid, "cmdline")
        status = read_proc(pid, "status")
        if raw is None or status is None:
            continue
        fields = {}
        for line in status.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        uid = int(fields.get("Uid", "0").split()[0])
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]] if raw else []
        nspid = fields.get("NSpid", "").split()  # the innermost pid namespace's pid (a container's)
        rows.append({"pid": pid, "ppid": int(fields.get("PPid", "0")), "threads": int(fields.get("Threads", "1")),
                     "uid": uid, "user": user, "name": fields.get("Name", ""), "argv": argv,
                     "nspid": int(nspid[-1]) if nspid and nspid[-1].isdigit() else pid})
    return rows


def gunicorn_args_from(argv):
    """Where gunicorn's own arguments start in a process's argv (after `gunicorn`, `gunicorn:
    master [...]` or `python -m gunicorn`, within its first words), or None: not gunicorn. The one
    place that decides it: the controller slices the argv at the index the probe reports."""
    for i, arg in enumerate(argv[:4]):
        base = os.path.basename(arg)
        if base == "gunicorn" or base.startswith("gunicorn:"):
            return i + 1
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] == "gunicorn":
            return i + 2
    return None


def is_gunicorn(argv):
    return gunicorn_args_from(argv) is not None


def start_time(pid):
    """When a process started (epoch seconds), from /proc/PID/stat and the boot time; None unknown."""
    raw, stat = read_proc(pid, "stat"), read_proc_file("/proc/stat")
    try:
        ticks = int(raw.rsplit(b")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in stat.splitlines() if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (AttributeError, IndexError, ValueError, StopIteration, OSError):
        return None


def boot_clock():
    """Now on start_time's scale (the whole-second boot time plus the time since boot), so a
    process started after this reads as later, which time.time() cannot promise: the boot time's
    dropped fraction puts every start_time up to 1 s early. None unknown."""
    try:
        stat = read_proc_file("/proc/stat")
        boot = next(int(line.split()[1]) for line in stat.splitlines() if line.startswith(b"btime "))
        with open("/proc/uptime", "rb") as f:
            return boot + float(f.read().split()[0])
    except (AttributeError, IndexError, ValueError, StopIteration, OSError):
        return None


def filtered_env(pid):
    """The values of the few variables the tool reads (ENV_KEYS), and the names of all the
    others, never their values (which may be secrets): a setting read from $X with a default
    runs the default only when X is not among them. Names is None when environ is unreadable."""
    raw = read_proc(pid, "environ")
    env, names = {}, set()
    for item in (raw or b"").split(b"\0"):
        key, sep, value = item.partition(b"=")
        key = key.decode("utf-8", "replace")
        if not sep:
            continue
        names.add(key)
        if key in ENV_KEYS:
            env[key] = value.decode("utf-8", "replace")
    return env, (sorted(names)[:MAX_ENV_NAMES] if raw is not None else None)


def mount_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None


def shares_root(pid):
    """The process sees the host's own root directory (the same filesystem object as pid 1's):
    a mount namespace of its own over it is a sandboxed service (systemd's PrivateTmp=,
    ProtectSystem=), whose paths are the host's, not a container's root. False when unknown."""
    try:
        mine = os.stat("/proc/%d/root" % pid)
    except OSError:
        return False
    for host_root in ("/proc/1/root", "/"):  # the agent's own root is the host's, when pid 1's is hidden
        try:
            host = os.stat(host_root)
        except OSError:
            continue
        return (mine.st_dev, mine.st_ino) == (host.st_dev, host.st_ino)
    return False


def listening_addresses(pid):
    """The TCP addresses the process listens on ("ip:port", "[ip6]:port"), from its own socket
    inodes (/proc/PID/fd) matched to LISTEN rows of its network namespace's /proc/PID/net/tcp{,6}:
    where this app really serves, whatever its config says."""
    import socket

    inodes = socket_inodes(pid)
    if inodes is None:
        return None
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = open("/proc/%d/net/%s" % (pid, table)).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) <= 9 or fields[3] != "0A" or fields[9] not in inodes:
                continue
            hexaddr, hexport = fields[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # the kernel prints each 32-bit word in host (little-endian) order
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            address = socket.inet_ntop(family, packed)
            text = ("[%s]" % address if family == socket.AF_INET6 else address) + ":%d" % int(hexport, 16)
            if text not in found:
                found.append(text)
    return found


@op("probe", parallel=True)
def op_probe(req):
    """Each gunicorn master (a gunicorn process whose parent is not one): its argv, user, cwd,
    filtered environment, workers and ancestors, then what each registered manager's probe adds;
    what `ps aux` shows, read from /proc as ps itself does, without a ps process per probe."""
    table = proc_table()
    by_pid = {row["pid"]: row for row in table}
    gunicorn_pids = set(row["pid"] for row in table if is_gunicorn(row["argv"]))
    masters, context = [], {"by_pid": by_pid, "cache": {}}
    for pid in sorted(gunicorn_pids):
        row = by_pid[pid]
        if row["ppid"] in gunicorn_pids:
            continue
        ancestors, cursor = [], row["ppid"]
        while cursor and cursor in by_pid and len(ancestors) < 20:
            parent = by_pid[cursor]
            ancestors.append({"pid": parent["pid"], "name": parent["name"], "argv": parent["argv"][:8]})
            cursor = parent["ppid"]
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            cwd = None
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            exe = None
        workers = [{"pid": w["pid"], "threads": w["threads"], "argv": w["argv"], "started": start_time(w["pid"])}
                   for w in table if w["ppid"] == pid]
        env, env_names = filtered_env(pid)
        master = {"pid": pid, "argv": row["argv"], "gunicorn_args_from": gunicorn_args_from(row["argv"]),
                  "nspid": row["nspid"], "user": row["user"], "uid": row["uid"], "cwd": cwd, "exe": exe, "env": env,
                  "env_names": env_names, "threads": row["threads"], "workers": workers, "started": start_time(pid),
                  "ancestors": ancestors, "container": None, "listen": listening_addresses(pid)}
        for probe in MASTER_PROBES:
            probe(master, context)
        masters.append(master)
    reply = {"hostname": os.uname()[1], "time": time.time(), "masters": masters, "python": sys.version.split()[0]}
    for probe in HOST_PROBES:
        reply.update(probe(masters))
    return reply


@op("hup_reload")
def op_hup_reload(req):
    """SIGHUP to a gunicorn master, then wait until a new generation of workers serves: every
    child of the master started after the signal, none of the old workers left, at least `want`
    of them (gunicorn's Arbiter.reload spawns the new workers, then stops the old ones gracefully);
    the wait ends early when the master exits (a worker that fails to boot halts it). The pid must
    still be the master the controller probed (`started`, its /proc start time): a pid reused by
    another process is never signalled. Returns what was seen; the controller judges it
    (verify/reload_proof.py)."""
    import signal

    pid, want = int(req["pid"]), int(req.get("want") or 1)
    started = start_time(pid)
    if started is None or req.get("started") is None or abs(started - float(req["started"])) > 1:
        return {"signalled": False, "error": "pid %d is not the master probed (started %s, now %s)"
                % (pid, req.get("started"), started)}

    def seen():
        kids = [row for row in proc_table() if row["ppid"] == pid]
        return [{"pid": row["pid"], "started": start_time(row["pid"]), "threads": row["threads"]} for row in kids]

    before = seen()  # the generation the signal replaces (and any the controller saw earlier)
    old = set(w["pid"] for w in before) | set(int(p) for p in req.get("old", []))
    sent, signalled_at = time.time(), boot_clock()
    os.kill(pid, signal.SIGHUP)
    deadline = sent + float(req.get("timeout", 60))
    workers = seen()
    while time.time() < deadline:
        pids = set(w["pid"] for w in workers)
        if len(pids) >= want and not (pids & old):
            break
        now = start_time(pid)
        if now is None or abs(now - started) > 1:  # the master exited (a worker failed to boot: HaltServer)
            break
        time.sleep(0.2)
        workers = seen()
    if signalled_at is None:
        signalled_at = sent
    return {"signalled": True, "sent": signalled_at, "now": time.time(), "master_started": start_time(pid),
            "old": sorted(old), "workers": workers}
