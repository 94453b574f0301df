"""supervisord's host side (stdlib only, bundled into the host agent): which program runs a
master (from its environment, else supervisord's XML-RPC socket), where supervisord writes its
output, and the `supervisor_restart` op through the same socket."""
import os
import time

from remediation.agent.core import master_probe, op, read_proc, run


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
    """A proxy to supervisord's XML-RPC interface on the unix socket or TCP port `conf` names (a
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

    class TimedTransport(xmlrpc.client.Transport):
        def make_connection(self, host):
            conn = xmlrpc.client.Transport.make_connection(self, host)
            conn.timeout = timeout
            return conn

    parser = configparser.RawConfigParser()
    try:
        parser.read(conf)
        here = os.path.dirname(os.path.abspath(conf))
        url = parser.get("supervisorctl", "serverurl", fallback="").strip()
        user = parser.get("supervisorctl", "username", fallback=None)
        password = parser.get("supervisorctl", "password", fallback=None)
        tcp = supervisor_tcp_address(parser, url)
        if tcp:  # supervisord serves XML-RPC on TCP only ([inet_http_server], an http:// serverurl)
            user = user or parser.get("inet_http_server", "username", fallback=None)
            password = password or parser.get("inet_http_server", "password", fallback=None)
            creds = "%s:%s@" % (user, password) if user and password and "%(" not in user + password else ""
            proxy = xmlrpc.client.ServerProxy("http://%s%s/RPC2" % (creds, tcp), transport=TimedTransport())
            proxy.supervisor.getState()
            return proxy
        path = url[len("unix://"):] if url.startswith("unix://") else parser.get("unix_http_server", "file",
                                                                                  fallback="")
        path = path.replace("%(here)s", here).strip()
        if not path or "%(" in path:
            return None
        host = "%s:%s@localhost" % (user, password) if user and password and "%(" not in user + password else "localhost"
        proxy = xmlrpc.client.ServerProxy("http://%s/RPC2" % host, transport=UnixTransport())
        proxy.supervisor.getState()
    except Exception:  # any failure: fall back to supervisorctl, which reports its own error
        return None
    return proxy


def supervisor_tcp_address(parser, url):
    """host:port of supervisord's TCP XML-RPC server, when that is how supervisorctl reaches it: an
    http:// serverurl, or no serverurl and no unix socket but an [inet_http_server] (a port alone,
    `:9001` or `*:9001`, is served on every address: asked on the loopback); "" otherwise."""
    if url.startswith("http://"):
        return url[len("http://"):].split("/", 1)[0]
    if url or parser.has_section("unix_http_server") or not parser.has_section("inet_http_server"):
        return ""
    port = parser.get("inet_http_server", "port", fallback="").strip()
    host, _, number = port.rpartition(":")
    if not number.isdigit():
        return ""
    return "%s:%s" % (host if host and host != "*" else "127.0.0.1", number)


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


TRANSITIONAL = ("STARTING", "STOPPING", "BACKOFF")


@op("supervisor_restart")
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


@master_probe
def probe_supervisor(master, context):
    """The program (and its log files) when supervisord is an ancestor of the master."""
    ancestors = master["ancestors"]
    for index, anc in enumerate(ancestors):
        if anc["name"].startswith("supervisord") or any("supervisord" in a for a in anc["argv"][:2]):
            chain = [master["pid"]] + [a["pid"] for a in ancestors[:index]]  # the program and any wrappers
            master["supervisor"] = supervisor_info(context["by_pid"][anc["pid"]], chain)
            return
