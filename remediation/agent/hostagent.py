"""Host-side agent for the remediation tool (stdlib only, Python 3.6+).

Invoked as `sudo -n python3 -I -S -c STUB AGENT_B64 --serve`: one JSON request per line on
stdin, one JSON reply per line, for the whole SSH connection (without --serve: one request,
one reply). Operations: probe, read, write, restore, introspect, counters, logs, lock,
unlock, run, supervisor_restart. Secrets never leave the host: process environments are
filtered to gunicorn/Django keys here. It starts on every host of a fleet sweep, so modules
only some operations need are imported inside them.
"""
import base64
import hashlib
import json
import os
import pwd
import re
import sys
import time

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


def read_proc_file(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
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


def engine_containers():
    """Running containers as the engine sees them, by the host pid of each one's first process
    (`docker inspect` State.Pid); {} without a docker CLI or engine."""
    res = run(["docker", "ps", "-q", "--no-trunc"], timeout=30)
    ids = res["stdout"].split() if res["rc"] == 0 else []
    if not ids:
        return {}
    res = run(["docker", "inspect"] + ids, timeout=30)
    if res["rc"] != 0:
        return {}
    return {(info.get("State") or {}).get("Pid"): info for info in json.loads(res["stdout"])}


def container_of(pid, chain, engine):
    """The container a process runs in: None on the host (same mount namespace as pid 1), else
    the id of the container whose first process is it or an ancestor, else "" (a container the
    engine does not know: its paths are not host paths, and nothing maps them)."""
    mine, host = mount_ns(pid), mount_ns(1)
    if mine is None or mine == host:
        return None, None
    for candidate in chain:
        info = engine.get(candidate)
        if info is not None:
            return info.get("Id"), info
    return "", None


def systemd_unit_of(pid):
    text = (read_proc(pid, "cgroup") or b"").decode("utf-8", "replace")
    match = re.search(r"/([^/\s]+\.service)", text)
    return match.group(1) if match else None


SYSTEMD_PROPS = ("Id", "FragmentPath", "DropInPaths", "EnvironmentFiles", "MainPID", "ExecStart")


def systemd_show(unit):
    """How systemd itself loads `unit` (`systemctl show`): its unit file and drop-ins in the order
    it applies them, its environment files (specifiers expanded; `optional` for a `-` one), its
    main pid and command line; None when systemctl cannot answer."""
    res = run(["systemctl", "show", unit, "--property=" + ",".join(SYSTEMD_PROPS)], timeout=30)
    if res["rc"] != 0:
        return None
    info = {"id": unit, "fragment": None, "dropins": [], "env_files": [], "main_pid": None, "exec_start": None}
    for line in res["stdout"].splitlines():
        key, _, value = line.partition("=")
        if key == "Id":
            info["id"] = value
        elif key == "FragmentPath":
            info["fragment"] = value or None
        elif key == "DropInPaths":
            info["dropins"] = value.split()
        elif key == "EnvironmentFiles" and value:
            path, _, flags = value.partition(" (")
            info["env_files"].append({"path": path, "optional": "ignore_errors=yes" in flags})
        elif key == "MainPID":
            info["main_pid"] = int(value) if value.isdigit() else None
        elif key == "ExecStart" and "argv[]=" in value:
            info["exec_start"] = value.split("argv[]=", 1)[1].split(" ;", 1)[0]
    return info


def docker_summary(info):
    """What the tool needs of `docker inspect`: compose labels, mounts, and the container's config."""
    config = info.get("Config") or {}
    env = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key in ENV_KEYS:
            env[key] = value
    return {
        "id": info.get("Id"), "name": info.get("Name", "").lstrip("/"),
        "labels": {k: v for k, v in (config.get("Labels") or {}).items() if k.startswith("com.docker.compose.")},
        "mounts": [{"source": m.get("Source"), "destination": m.get("Destination"), "type": m.get("Type"),
                    "rw": m.get("RW")} for m in info.get("Mounts") or []],
        "working_dir": config.get("WorkingDir"), "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"), "env": env, "image": config.get("Image"), "image_id": info.get("Image"),
        "started_at": (info.get("State") or {}).get("StartedAt"), "pid": (info.get("State") or {}).get("Pid"),
    }


def published_ports(info):
    """{container port: host port} of a container's published TCP ports (`docker inspect`
    NetworkSettings.Ports): where the host reaches an app listening in the container's own network."""
    out = {}
    for key, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for binding in bindings or []:
            if proto == "tcp" and port.isdigit() and str(binding.get("HostPort") or "").isdigit():
                out[port] = int(binding["HostPort"])
                break
    return out


def supervisor_program_from_env(pids):
    """supervisord puts SUPERVISOR_PROCESS_NAME/GROUP_NAME in each program's environment."""
    for pid in pids:
        env = {}
        for item in (read_proc(pid, "environ") or b"").split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep and key in (b"SUPERVISOR_PROCESS_NAME", b"SUPERVISOR_GROUP_NAME"):
                env[key.decode()] = value.decode("utf-8", "replace")
        name, group = env.get("SUPERVISOR_PROCESS_NAME"), env.get("SUPERVISOR_GROUP_NAME")
        if name:
            return "%s:%s" % (group, name) if group and group != name else name
    return None


def supervisor_info(supervisord, chain=()):
    argv = supervisord["argv"]
    conf = None
    for i, arg in enumerate(argv):
        if arg in ("-c", "--configuration") and i + 1 < len(argv):
            conf = argv[i + 1]
        elif arg.startswith("--configuration="):
            conf = arg.split("=", 1)[1]
    if conf is None:
        for candidate in ("/etc/supervisor/supervisord.conf", "/etc/supervisord.conf"):
            if os.path.exists(candidate):
                conf = candidate
                break
    program = supervisor_program_from_env(chain)
    if program:  # no need to ask supervisord for the status (and no supervisorctl start: ~0.3 s of CPU)
        return {"config": conf, "program": program, "status": "", "status_rc": 0, "via": "environment",
                "logs": supervisor_rpc_logs(conf, program) if conf else None}
    text, infos = supervisor_rpc_status(conf) if conf else (None, None)
    if text is not None:
        mine = [i for i in infos if i.get("pid") in chain]
        return {"config": conf, "status": text, "status_rc": 0, "via": "xmlrpc",
                "logs": supervisor_log_files(mine[0]) if mine else None}
    status = run(["supervisorctl", "-c", conf, "status"] if conf else ["supervisorctl", "status"], timeout=30)
    return {"config": conf, "status": status["stdout"], "status_rc": status["rc"], "via": "supervisorctl"}


def supervisor_rpc(conf, timeout=10):
    """A proxy to supervisord's XML-RPC interface on the unix socket `conf` names (a
    supervisorctl start costs ~0.3 s of CPU); None when the socket cannot be used. `timeout`
    bounds each call: a stop or start that waits must be allowed the whole restart's time."""
    import configparser  # imported here: they cost ~50 ms, and only supervisor hosts need them
    import http.client
    import xmlrpc.client

    class UnixHTTPConnection(http.client.HTTPConnection):
        def __init__(self, path):
            http.client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
            self.unix_path = path

        def connect(self):
            import socket

            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(self.unix_path)

    class UnixTransport(xmlrpc.client.Transport):
        def make_connection(self, host):
            return UnixHTTPConnection(path)

    parser = configparser.RawConfigParser()
    try:
        parser.read(conf)
        here = os.path.dirname(os.path.abspath(conf))
        url = parser.get("supervisorctl", "serverurl", fallback="")
        path = url[len("unix://"):] if url.startswith("unix://") else parser.get("unix_http_server", "file",
                                                                                  fallback="")
        path = path.replace("%(here)s", here).strip()
        if not path or "%(" in path:
            return None
        user = parser.get("supervisorctl", "username", fallback=None)
        password = parser.get("supervisorctl", "password", fallback=None)
        host = "%s:%s@localhost" % (user, password) if user and password and "%(" not in user + password else "localhost"
        proxy = xmlrpc.client.ServerProxy("http://%s/RPC2" % host, transport=UnixTransport())
        proxy.supervisor.getState()
    except Exception:  # any failure: fall back to supervisorctl, which reports its own error
        return None
    return proxy


def supervisor_rpc_status(conf):
    """(`supervisorctl status` lines, each process's info), read from supervisord's XML-RPC socket
    directly; (None, None) when the socket cannot be used."""
    proxy = supervisor_rpc(conf)
    if proxy is None:
        return None, None
    try:
        infos = proxy.supervisor.getAllProcessInfo()
    except Exception:
        return None, None
    lines = []
    for info in infos:
        name = info["name"] if info["group"] == info["name"] else "%s:%s" % (info["group"], info["name"])
        lines.append("%-32s %-9s %s" % (name, info["statename"], info.get("description", "")))
    return "\n".join(lines) + "\n", infos


def supervisor_log_files(info):
    """Where supervisord writes a process's output, as supervisord itself says (`getProcessInfo`):
    AUTO names resolved, "" for NONE or a stderr redirected into stdout."""
    return {"stdout_logfile": info.get("stdout_logfile") or "", "stderr_logfile": info.get("stderr_logfile") or "",
            "pid": info.get("pid"), "via": "xmlrpc"}


def supervisor_rpc_logs(conf, program):
    """supervisor_log_files of one program (`group:name` or `name`); None without the socket."""
    proxy = supervisor_rpc(conf)
    if proxy is None:
        return None
    try:
        return supervisor_log_files(proxy.supervisor.getProcessInfo(program))
    except Exception:
        return None


COMPOSE_CLIS = []  # this agent's answer, kept for its later probes


TRANSITIONAL = ("STARTING", "STOPPING", "BACKOFF")


def op_supervisor_restart(req):
    """`supervisorctl restart PROGRAM` through the XML-RPC socket, with the settling before and
    after that a restart needs: wait out STARTING/STOPPING/BACKOFF, stop, start (supervisord waits
    `startsecs` for RUNNING), report the state. {"unavailable": true} sends the controller to
    supervisorctl."""
    # stopProcess and startProcess wait in supervisord: for gunicorn's graceful stop (its
    # graceful_timeout, 30 s by default) and for startsecs, so a call may take the whole restart
    timeout = req.get("timeout", 60)
    proxy = supervisor_rpc(req["config"], timeout=timeout) if req.get("config") else None
    if proxy is None:
        return {"unavailable": True}
    name, deadline = req["program"], time.time() + timeout

    def settled():
        while True:
            state = proxy.supervisor.getProcessInfo(name)["statename"]
            if state not in TRANSITIONAL or time.time() > deadline:
                return state
            time.sleep(0.2)

    try:
        before = settled()
        if before in ("RUNNING",):
            proxy.supervisor.stopProcess(name, True)
        proxy.supervisor.startProcess(name, True)
        after = settled()
    except Exception as exc:  # a Fault (SPAWN_ERROR, ABNORMAL_TERMINATION, BAD_NAME) or the socket
        state = None
        try:
            state = proxy.supervisor.getProcessInfo(name)["statename"]
        except Exception:
            pass
        return {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc), "state": state}
    return {"ok": after == "RUNNING", "state": after, "before": before}


def compose_clis():
    if COMPOSE_CLIS:
        return COMPOSE_CLIS[0]
    found = {}
    import shutil

    standalone = shutil.which("docker-compose")
    if standalone:  # its path, not its version: the Python one (v1) takes ~0.5 s of CPU to say it
        found["docker-compose"] = standalone
    if shutil.which("docker"):
        res = run(["docker", "compose", "version", "--short"], timeout=20)
        if res["rc"] == 0:
            found["docker compose"] = res["stdout"].strip()
    COMPOSE_CLIS.append(found)
    return found


def listening_addresses(pid):
    """The TCP addresses the process listens on ("ip:port", "[ip6]:port"), from its own socket
    inodes (/proc/PID/fd) matched to LISTEN rows of its network namespace's /proc/PID/net/tcp{,6}:
    where this app really serves, whatever its config says."""
    import socket

    inodes = set()
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for name in names:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
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


def op_probe(req):
    table = proc_table()
    by_pid = {row["pid"]: row for row in table}
    gunicorn_pids = set(row["pid"] for row in table if is_gunicorn(row["argv"]))
    masters, engine = [], None
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
        workers = [{"pid": w["pid"], "threads": w["threads"], "argv": w["argv"]}
                   for w in table if w["ppid"] == pid]
        env, env_names = filtered_env(pid)
        master = {"pid": pid, "argv": row["argv"], "gunicorn_args_from": gunicorn_args_from(row["argv"]),
                  "nspid": row["nspid"], "user": row["user"], "uid": row["uid"], "cwd": cwd, "exe": exe, "env": env,
                  "env_names": env_names, "threads": row["threads"], "workers": workers, "started": start_time(pid),
                  "ancestors": ancestors, "container": None, "systemd_unit": systemd_unit_of(pid),
                  "listen": listening_addresses(pid)}
        if mount_ns(pid) != mount_ns(1):  # in a container: ask the engine which one
            engine = engine_containers() if engine is None else engine
            master["container"], info = container_of(pid, [pid] + [a["pid"] for a in ancestors], engine)
            if info is not None:
                master["docker"] = docker_summary(info)
                master["docker"]["ports"] = published_ports(info)
        if master["systemd_unit"] and any(a["pid"] == 1 and "systemd" in a["name"] for a in ancestors):
            master["systemd"] = systemd_show(master["systemd_unit"])
        for index, anc in enumerate(ancestors):
            if anc["name"].startswith("supervisord") or any("supervisord" in a for a in anc["argv"][:2]):
                chain = [pid] + [a["pid"] for a in ancestors[:index]]  # the program and any wrappers
                master["supervisor"] = supervisor_info(by_pid[anc["pid"]], chain)
                break
        masters.append(master)
    # what `ps aux` shows, read from /proc as ps itself does, without a ps process per probe
    reply = {"hostname": os.uname()[1], "time": time.time(), "masters": masters,
             "compose_clis": compose_clis() if any(m["container"] is not None for m in masters) else {},
             "python": sys.version.split()[0]}
    return reply


def file_info(path):
    info = {"path": path, "exists": os.path.lexists(path)}
    if not info["exists"]:
        return info
    info["symlink"] = os.path.islink(path)
    info["realpath"] = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        info["error"] = str(exc)
        return info
    info.update(mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid, size=st.st_size,
                is_file=os.path.isfile(path), mtime=st.st_mtime)
    return info


def op_read(req):
    files = []
    paths = list(req["paths"])
    for pattern in req.get("globs", []):  # e.g. supervisor [include] files=: matches read in the same trip
        import glob

        paths += [p for p in sorted(glob.glob(pattern)) if p not in paths]
    for path in paths:
        info = file_info(path)
        if info.get("exists") and info.get("is_file"):
            if info["size"] > req.get("max_size", MAX_FILE):
                info["error"] = "too large (%d bytes)" % info["size"]
            else:
                with open(path, "rb") as fh:
                    data = fh.read()
                info["sha256"] = sha256(data)
                if not req.get("sha_only"):
                    info["content"] = b64(data)
        files.append(info)
    listings = {}
    for directory in req.get("list_dirs", []):
        try:
            listings[directory] = sorted(os.listdir(directory))
        except OSError as exc:
            listings[directory] = {"error": str(exc)}
    return {"files": files, "listings": listings}


def current_sha(path):
    try:
        with open(path, "rb") as fh:
            return sha256(fh.read())
    except OSError:  # missing, a directory, unreadable: not the file we want
        return None


def atomic_write(path, data, mode, uid, gid):
    directory = os.path.dirname(path)
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".%s.remediation-" % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.chown(tmp, uid, gid)
        return tmp
    except BaseException:
        os.unlink(tmp)
        raise


def validate(tmp, kind, python):
    if kind == "python":
        res = run([python or sys.executable, "-c",
                   "import sys; compile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec')", tmp], timeout=60)
        if res["rc"] != 0:
            return (res["stderr"].strip().splitlines() or ["does not compile"])[-1]
    return None


def fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def op_write(req):
    """Back up, write a temp file beside the target, validate, rename into place."""
    path = req["path"]
    data = base64.b64decode(req["content"])
    info = file_info(path)
    if not info.get("exists") or not info.get("is_file"):
        return {"ok": False, "error": "%s: not a regular file" % path}
    if info.get("symlink"):
        return {"ok": False, "error": "%s: is a symlink, refusing to replace it" % path}
    with open(path, "rb") as fh:
        original = fh.read()
    if sha256(original) != req["expected_sha256"]:
        return {"ok": False, "error": "%s changed since it was planned (sha256 %s, planned %s)"
                % (path, sha256(original)[:12], req["expected_sha256"][:12])}
    backup = os.path.join(req["backup_dir"], path.lstrip("/"))
    try:
        os.makedirs(os.path.dirname(backup), mode=0o700, exist_ok=True)
        # the first backup in a run is the true original: a second write (retry, resume) keeps it
        if not os.path.exists(backup):
            try:
                with open(backup + ".partial", "wb") as fh:
                    fh.write(original)
                    fh.flush()
                    os.fsync(fh.fileno())
                import shutil

                shutil.copystat(path, backup + ".partial")
                os.rename(backup + ".partial", backup)
            except BaseException:
                if os.path.lexists(backup + ".partial"):
                    os.unlink(backup + ".partial")  # a full disk must not leave a partial backup
                raise
            if current_sha(backup) != sha256(original):
                return {"ok": False, "error": "backup of %s did not verify" % path}
        tmp = atomic_write(path, data, info["mode"], info["uid"], info["gid"])
    except OSError as exc:
        return {"ok": False, "error": "%s: %s" % (exc.filename or path, exc.strerror), "stage": "backup"}
    problem = validate(tmp, req.get("validate"), req.get("python"))
    if problem:
        os.unlink(tmp)
        return {"ok": False, "error": "%s: new content failed validation: %s" % (path, problem), "backup": backup}
    if req.get("dry_run"):
        os.unlink(tmp)
        return {"ok": True, "backup": backup, "dry_run": True}
    try:
        os.rename(tmp, path)
        fsync_dir(os.path.dirname(path))
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        return {"ok": False, "error": "%s: %s" % (path, exc.strerror), "stage": "rename", "backup": backup}
    return {"ok": True, "backup": backup, "sha256_before": sha256(original), "sha256_after": current_sha(path)}


def op_restore(req):
    """Put original bytes back atomically, from the host backup or the controller's copy."""
    results = []
    for item in req["files"]:
        path, want = item["path"], item["sha256"]
        if current_sha(path) == want:
            results.append({"path": path, "ok": True, "source": "already"})
            continue
        if item.get("ours") is not None and current_sha(path) not in item["ours"]:
            # neither the original nor this run's bytes: another hand's edit, never overwritten
            if item.get("written"):
                results.append({"path": path, "ok": False, "error": "%s: changed by another hand since the tool "
                                "wrote it: not overwritten" % path})
            else:
                results.append({"path": path, "ok": True, "source": "untouched"})
            continue
        data, source = None, None
        backup = item.get("backup")
        if backup and current_sha(backup) == want:
            with open(backup, "rb") as fh:
                data, source = fh.read(), "host-backup"
        elif item.get("content") is not None:
            data, source = base64.b64decode(item["content"]), "controller-copy"
            if sha256(data) != want:
                results.append({"path": path, "ok": False, "error": "controller copy does not match sha256"})
                continue
        if data is None:
            results.append({"path": path, "ok": False, "error": "no verified copy of the original"})
            continue
        info = file_info(path)
        mode = item.get("mode", info.get("mode", 0o644))
        uid = item.get("uid", info.get("uid", 0))
        gid = item.get("gid", info.get("gid", 0))
        try:
            tmp = atomic_write(path, data, mode, uid, gid)
            os.rename(tmp, path)
            fsync_dir(os.path.dirname(path))
        except OSError as exc:
            results.append({"path": path, "ok": False, "error": "%s: %s" % (path, exc.strerror)})
            continue
        ok = current_sha(path) == want
        results.append({"path": path, "ok": ok, "source": source,
                        "error": None if ok else "sha256 after restore does not match"})
    return {"files": results}


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
        elif item["kind"] == "docker":
            argv = ["docker", "logs"]
            if item.get("since"):
                argv += ["--since", "%.3f" % item["since"]]
            else:
                argv += ["--tail", str(req.get("lines", 400))]
            res = run(argv + [item["container"]], timeout=30)
            out[item["key"]] = res["stdout"] + res["stderr"]
        elif item["kind"] == "journal":
            argv = ["journalctl", "--no-pager", "-o", "cat", "-u", item["unit"]]
            if item.get("since"):
                argv += ["--since", "@%.3f" % item["since"]]
            else:
                argv += ["-n", str(req.get("lines", 400))]
            res = run(argv, timeout=30)
            out[item["key"]] = res["stdout"] if res["rc"] == 0 else {"error": res["stderr"].strip() or "journalctl failed"}
    return out


def app_command(req, args):
    """argv, env, cwd and privilege drop that run the snippet as the app runs (or in its container)."""
    overrides = req.get("env") or {}  # what the restart will change (a patched manager file)
    if req.get("container"):
        argv = ["docker", "exec", "-i"] + (["-w", req["cwd"]] if req.get("cwd") else [])
        for key, value in sorted(overrides.items()):
            argv += ["-e", "%s=%s" % (key, value)]
        return argv + [req["container"], req["python"], "-c", req["snippet"]] + args, None, None, {}
    env = {}
    for item in (read_proc(req["pid"], "environ") or b"").split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    env.update(overrides)
    return [req["python"], "-c", req["snippet"]] + args, env, req.get("cwd") or "/", drop_to(req["uid"])


def drop_to(uid):
    """Popen arguments that run a child as `uid` (its primary group, no supplementary groups).
    Python >= 3.9 drops them in the child without preexec_fn, which is unsafe with threads."""
    if not uid:
        return {}
    gid = pwd.getpwuid(uid).pw_gid
    if sys.version_info >= (3, 9):
        return {"user": uid, "group": gid, "extra_groups": []}

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return {"preexec_fn": drop}


def image_run_command(req, args, info, env_file):
    """`docker run` of a freshly built image as the running container (`info`, its `docker
    inspect`) runs: its network, user and bind mounts, its environment with the overrides a
    restart will bring (the text for `env_file`, never a command line), the app's interpreter
    and working directory. Returns (argv, env file text)."""
    host, config = info.get("HostConfig") or {}, info.get("Config") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    env.update(req.get("env") or {})
    text = "".join("%s=%s\n" % (k, v) for k, v in sorted(env.items()) if "\n" not in v)
    argv = ["docker", "run", "--rm", "-i", "--network", host.get("NetworkMode") or "default", "--env-file", env_file]
    if config.get("User"):
        argv += ["-u", config["User"]]
    for bind in host.get("Binds") or []:
        argv += ["-v", bind]
    if req.get("cwd"):
        argv += ["-w", req["cwd"]]
    return argv + ["--entrypoint", req["python"], req["image_run"]["image"], "-c", req["snippet"]] + args, text


def op_image_introspect(req):
    """The snippet in a new container of a freshly built image (see image_run_command)."""
    import tempfile

    res = run(["docker", "inspect", req["image_run"]["like"]], timeout=30)
    if res["rc"] != 0:
        return {"rc": 1, "stdout": "", "stderr": "docker inspect failed: %s" % res["stderr"].strip()}
    directory = tempfile.mkdtemp(prefix="remediation-")
    env_file = os.path.join(directory, "env")
    argv, text = image_run_command(req, req.get("args", []), json.loads(res["stdout"])[0], env_file)
    try:
        with os.fdopen(os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            fh.write(text)
        return run(argv, timeout=req.get("timeout", 120))
    finally:
        if os.path.exists(env_file):
            os.unlink(env_file)
        os.rmdir(directory)


def op_introspect(req):
    """Run a snippet under the app's own interpreter, environment, cwd and user (or in a new
    container of a freshly built image, `image_run`)."""
    if req.get("image_run"):
        return op_image_introspect(req)
    argv, env, cwd, privs = app_command(req, req.get("args", []))
    return run(argv, timeout=req.get("timeout", 90), env=env, cwd=cwd, privs=privs)


SESSIONS = {}  # counter sessions of this agent, by app: one DB connection kept per alias


def session_line(proc, timeout):
    """One line of a counter session's output, or b"" when it ends or stays silent."""
    import select

    ready = select.select([proc.stdout], [], [], timeout)[0]
    return proc.stdout.readline() if ready else b""


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


def end_sessions():
    for proc in SESSIONS.values():
        try:
            proc.stdin.close()
            proc.wait(5)
        except Exception:
            proc.kill()


LOCK_PATH = "/run/lock/remediation.lock"


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


def op_run(req):
    return run(req["argv"], timeout=req.get("timeout", 120))


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
        try:
            names = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for name in names:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, name))
            except OSError:
                continue
            if link.startswith("socket:["):
                out[link[8:-1]] = pid
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


OPS = {"probe": op_probe, "read": op_read, "write": op_write, "restore": op_restore,
       "logs": op_logs, "introspect": op_introspect, "counters": op_counters, "run": op_run, "lock": op_lock,
       "unlock": op_unlock, "supervisor_restart": op_supervisor_restart, "tcp_watch": op_tcp_watch}


def answer(item):
    try:
        return OPS[item["op"]](item)
    except Exception as exc:  # reported to the controller, never a partial silent success
        return {"agent_error": "%s: %s" % (type(exc).__name__, exc)}


PARALLEL_OPS = {"probe", "read", "logs", "introspect", "counters"}  # read-only, independent


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
            end_sessions()
        return
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        for line in iter(stdin.readline, b""):
            stdout.write(json.dumps(handle(json.loads(line.decode("utf-8")))).encode("utf-8") + b"\n")
            stdout.flush()
    finally:
        end_sessions()


if __name__ == "__main__":
    main()
