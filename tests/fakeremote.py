"""A fake Remote for unit tests of the host flow (like fabric.testing's MockRemote, or pyinfra's
JSON fact fixtures): the flow talks to it exactly as to remediation.transport.remote.Remote
(open/close/context manager, run, start/finish, agent ops, round_trips), and it answers from a
scenario instead of a host.

What it answers from:
- recorded agent replies: the `probe` reply (tests/fixtures/probe/*.json, the agent's own
  shape), the app's versions and the DB server's budget (tests/fixtures/flow/hosts/<host>/host.json);
- an in-memory host filesystem (tests/fixtures/flow/hosts/<host>/files/...): `read` returns real
  sha256, bytes and mtimes (the host's files were written a month ago, `running_files` an hour
  ago, after the running master started), `write` backs up (keeping the mtime, as copystat does),
  validates and renames as hostagent.op_write does, `restore` puts back the host backup or the
  controller's copy as hostagent.op_restore does, so backups, sha256 checks and byte-identical
  rollback are real checks;
- a small model of the running app: the gunicorn master loaded its config and settings when it
  started (the fake's "app loader" runs the gunicorn config file and the settings module as
  Python, as gunicorn's and Django's loaders do, and completes DATABASES as Django's connection
  handler does: CONN_MAX_AGE 0, CONN_HEALTH_CHECKS False where unset, named in `defaulted`), a
  restart starts a new master (new pid, new start time; pid 1 inside a container) from the files
  as they are then; the probe reports its `started` and `nspid`, supervisord's XML-RPC log files
  (`logs`) and systemd's `systemctl show` (`systemd`) as the agent does; the log has gunicorn's
  default format, `[date] [PID] [INFO] Using worker: X` with the master's own pid; each request
  opens a DB connection unless the running workers keep them (a threaded or sync worker with
  CONN_MAX_AGE != 0), so the DB server's cumulative counter, the tcp watch and the timed
  requests' output follow from what really runs;
- scripted faults (a scenario's "faults"), one per stage failure: unreachable, a held lock, a
  file edited while the baseline runs, the app's interpreter failing, a write failing validation,
  the patched config failing to load, a restart failing or doing nothing, the app not serving,
  reuse not happening after the restart, a restore failing, the connection dropping at a stage,
  the app's log unreadable (`log_unreadable`: the OSError's reason), a restarted master logging
  another worker class than it loads (`restarted_logs_worker`), a HUP's workers dying and the
  master halting after it (`hup_kills_master`: no master in the process table until the manager
  starts one).

The fake is strict: an agent op or command it does not know fails the test (AssertionError),
so a flow that starts doing something new cannot pass by accident.
"""
from __future__ import annotations

import base64
import configparser
import copy
import fnmatch
import hashlib
import json
import posixpath
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediation.facts.gather import INTROSPECT_MARK
from remediation.errors import HostUnreachable, RemoteError
from remediation.managers.supervisor import SETTLE_SCRIPT
from remediation.restart import WAIT_SCRIPT
from remediation.transport.protocol import AgentCalls
from remediation.transport.remote import CommandResult
from remediation.verify.measure import REQUESTS_SCRIPT, WARMUP_SCRIPT

FIXTURES = Path(__file__).parent / "fixtures"
FLOW = FIXTURES / "flow"

GUNICORN_DEFAULTS = {"worker_class": "sync", "workers": 1, "threads": 1, "worker_connections": 1000,
                     "preload_app": False, "graceful_timeout": 30, "reload": False, "max_requests": 0, "bind": ["127.0.0.1:8000"],
                     "chdir": None}
WORKER_CLASSES = {"sync": "gunicorn.workers.sync.SyncWorker", "gthread": "gunicorn.workers.gthread.ThreadWorker",
                  "gevent": "gunicorn.workers.ggevent.GeventWorker"}
CLI_FLAGS = {"-k": "worker_class", "--worker-class": "worker_class", "-w": "workers", "--workers": "workers",
             "--threads": "threads", "--worker-connections": "worker_connections", "-b": "bind", "--bind": "bind"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeFile:
    content: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = 0.0  # when it was last written (the host's clock), as the agent's read reports it


class AppLoadError(Exception):
    """What the app's own loaders would report (the introspection snippet's `errors`)."""


def version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text or "")[:3])


def django_filled(databases: dict, django: str | None) -> dict:
    """DATABASES as Django's own ConnectionHandler completes it (configure_settings): ENGINE dummy
    where unset, CONN_MAX_AGE 0, CONN_HEALTH_CHECKS False (Django >= 4.1), OPTIONS {}, NAME/USER/
    PASSWORD/HOST/PORT "". A DATABASES without `default` makes Django raise: the snippet's fallback
    then sets CONN_MAX_AGE 0 alone (agent/introspect.py django_defaults_filled)."""
    filled = copy.deepcopy(databases)
    if filled and "default" not in filled:
        for db in filled.values():
            db.setdefault("CONN_MAX_AGE", 0)
        return filled
    for db in filled.values():
        db.setdefault("ATOMIC_REQUESTS", False)
        db.setdefault("AUTOCOMMIT", True)
        db.setdefault("ENGINE", "django.db.backends.dummy")
        if not db["ENGINE"] or db["ENGINE"] == "django.db.backends.":
            db["ENGINE"] = "django.db.backends.dummy"
        db.setdefault("CONN_MAX_AGE", 0)
        if version_tuple(django) >= (4, 1):
            db.setdefault("CONN_HEALTH_CHECKS", False)
        db.setdefault("OPTIONS", {})
        db.setdefault("TIME_ZONE", None)
        for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT"):
            db.setdefault(key, "")
    return filled


def load_app(files: dict[str, FakeFile], argv: list[str], args_from: int, cwd: str, env: dict[str, str],
             to_host=lambda p: p, django: str | None = None) -> dict:
    """The app's own view of its settings from the files as they are now: gunicorn's config file
    and command line (as gunicorn reads them), Django's DATABASES (the settings module run as
    Python, completed by Django's connection handler for `django`, its version), shaped as
    agent/introspect.py prints it."""
    out: dict[str, Any] = {"gunicorn": None, "databases": {}, "errors": []}
    words = argv[args_from:]
    settings = dict(GUNICORN_DEFAULTS)
    config = posixpath.join(cwd, "gunicorn.conf.py")
    app_uri = None
    cli: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-c", "--config") and i + 1 < len(words):
            config, i = posixpath.join(cwd, words[i + 1]), i + 2
            continue
        if word in CLI_FLAGS and i + 1 < len(words):
            cli[CLI_FLAGS[word]], i = words[i + 1], i + 2
            continue
        if not word.startswith("-"):
            app_uri = word
        i += 1
    try:
        host_config = to_host(config)
        if host_config in files:
            namespace: dict[str, Any] = {}
            exec(compile(files[host_config].content, config, "exec"), namespace)
            settings.update({k: namespace[k] for k in GUNICORN_DEFAULTS if k in namespace})
        for key, value in cli.items():
            settings[key] = value if key in ("worker_class",) else ([value] if key == "bind" else int(value))
        if isinstance(settings["bind"], str):
            settings["bind"] = [settings["bind"]]
        name = settings["worker_class"]
        effective = WORKER_CLASSES.get(name, name)
        if name == "sync" and settings["threads"] > 1:  # gunicorn runs sync with threads as gthread
            effective = WORKER_CLASSES["gthread"]
        out["gunicorn"] = {**settings, "effective_worker_class": effective, "config": config, "app_uri": app_uri,
                           "chdir": settings["chdir"] or cwd}
    except Exception as exc:  # noqa: BLE001 - what the snippet reports
        out["errors"].append(f"gunicorn config: {type(exc).__name__}: {exc}")
    module = env.get("DJANGO_SETTINGS_MODULE")
    out["settings_module"] = {"module": module, "source": "process environment" if module else None}
    try:
        if not module:
            raise AppLoadError("settings are not configured")
        # Python's import path: the working directory, then PYTHONPATH's entries
        roots = [cwd] + [posixpath.join(cwd, p) for p in env.get("PYTHONPATH", "").split(":") if p]
        found = [r for r in roots if to_host(posixpath.join(r, *module.split(".")) + ".py") in files]
        if not found:
            raise AppLoadError(f"No module named {module!r}")
        path = posixpath.join(found[0], *module.split(".")) + ".py"
        namespace = {"__name__": module, "__file__": path}
        exec(compile(files[to_host(path)].content, path, "exec"), namespace)
        packages = [posixpath.join(found[0], *module.split(".")[:i], "__init__.py")
                    for i in range(1, module.count(".") + 1)]
        out["settings_module"]["loaded"] = sorted([p for p in packages if to_host(p) in files] + [path])
        databases = namespace["DATABASES"]
        configured = django_filled(databases, django)
        for alias, db in databases.items():
            full = configured.get(alias) or db  # what Django's connection handler runs
            options = full.get("OPTIONS") or {}
            out["databases"][alias] = {
                "ENGINE": full.get("ENGINE"), "CONN_MAX_AGE": full.get("CONN_MAX_AGE"),
                "CONN_HEALTH_CHECKS": full.get("CONN_HEALTH_CHECKS"), "pool": bool(options.get("pool")),
                "HOST": full.get("HOST"), "PORT": str(full.get("PORT") or ""), "NAME": str(full.get("NAME") or ""),
                "defaulted": sorted(k for k in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS") if k not in db and k in full)}
    except Exception as exc:  # noqa: BLE001 - what the snippet reports
        out["errors"].append(f"django: {type(exc).__name__}: {exc}")
    return out


def keeps_connections(view: dict) -> bool:
    """Whether the app's workers keep their DB connections across requests (the fix)."""
    gunicorn = view.get("gunicorn") or {}
    if "ggevent" in (gunicorn.get("effective_worker_class") or ""):
        return False  # a connection per greenlet, closed or leaked: never reused (the incident)
    dbs = view.get("databases") or {}
    # an unset CONN_MAX_AGE is Django's default 0 in the view: a connection per request; None is
    # Django's "unlimited persistent connections"
    return bool(dbs) and all(db.get("CONN_MAX_AGE") != 0 for db in dbs.values())


@dataclass
class Process:
    """The running gunicorn master: what it loaded when it started."""
    pid: int
    view: dict
    started: float = 0.0  # when it started (the host's clock: /proc/PID/stat and the boot time)
    nspid: int = 0  # its pid inside its own pid namespace (a container's), as its log names it
    warm_threads: int = 0  # worker threads that hold a DB connection now
    generation: int = 0  # how many HUPs it has reloaded: each gives the workers new pids
    worker_started: float = 0.0  # when the current workers started

    @property
    def capacity(self) -> int:
        g = self.view.get("gunicorn") or {}
        return int(g.get("workers") or 1) * max(1, int(g.get("threads") or 1))

    @property
    def worker_name(self) -> str:
        return (self.view.get("gunicorn") or {}).get("worker_class") or "?"


@dataclass
class FakeStarted:
    """A command started with FakeRemote.start (its result is computed when it starts)."""
    argv: list
    result: CommandResult
    abandoned: bool = False

    def abandon(self) -> None:
        self.abandoned = True


class FakeHost:
    """One fake host: files, the running app, the DB server, the lock, the scripted faults.
    Built from tests/fixtures/flow/hosts/<name>/ and a scenario's overrides."""

    def __init__(self, name: str, faults: dict | None = None, files: dict[str, str] | None = None,
                 spec: dict | None = None, running_files: dict[str, str] | None = None,
                 spec_dir: Path | None = None, master_index: int = 0, db: dict | None = None):
        # spec_dir/master_index/db: one app of a host of several (tests/fakeapps.py): its master
        # is that one of the probe's, and its DB server's counter may be shared with a neighbour's
        spec_dir = spec_dir or FLOW / "hosts" / name
        self.spec = {**json.loads((spec_dir / "host.json").read_text()), **(spec or {})}
        self.faults = dict(faults or {})
        probe = json.loads((FIXTURES / self.spec["probe"]).read_text())
        probe.pop("ps", None)  # an older agent's `ps aux` text: no part of the reply any more
        probe["masters"] = [probe["masters"][master_index]]
        self.probe_template = probe
        self.clock = 1_800_000_000.0
        # the host's files were written well before the running master started (a day before now),
        # a scenario's own versions too (the master runs them), but `running_files` (see below)
        written, started = self.clock - 30 * 86400, self.clock - 86400
        self.files: dict[str, FakeFile] = {}
        root = spec_dir / "files"
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.files["/" + path.relative_to(root).as_posix()] = FakeFile(path.read_bytes(), 0o644, 999, 999,
                                                                               written)
        for path, text in (files or {}).items():  # a scenario's own versions of some files
            self.files[path] = FakeFile(text.encode(), 0o644, 999, 999, written)
        self.original = {path: f.content for path, f in self.files.items()}
        self.supervisor_logs = self.supervisor_log_files()  # as supervisord loaded the program
        self.log_path = self.supervisor_logs.get("stdout_logfile") or None  # a file log, if any
        # (host clock, line, container that wrote it, pid of the writer as journald records it)
        self.log: list[tuple[float, str, str | None, int | None]] = []
        self.host_name = self.spec["name"]  # as the inventory names it (set when a FakeRemote connects)
        self.lock: dict | None = self.faults.get("lock_holder")
        self.db = db if db is not None else {"total": 5000}  # the DB server's cumulative connection counter
        self.own_connects = 0  # connections this app's processes opened (what its workers' sockets show)
        self.sessions: dict[str, bool] = {}  # counter sessions alive, by container id ("" on the host)
        self.watches: dict[str, dict] = {}
        self.restarts = 0
        self.reloads = 0  # HUPs the master reloaded
        self.master_gone = False  # the master exited (fault hup_kills_master) and nothing started another
        self.commands: list[list[str]] = []  # every command run (restart commands among them)
        self.ops: list[str] = []  # every agent op, in order
        self.started: list[FakeStarted] = []  # every command started (timed requests, warm-ups)
        self.connected = False
        self.program_state = "RUNNING"  # supervisord's state of the program
        self.loaded_command = self.manager_command()  # what the manager has loaded of its own file
        master = probe["masters"][0]
        if self.loaded_command:  # the manager started the master with the command its file says
            master["argv"] = master["argv"][:master["gunicorn_args_from"]] + shlex.split(self.expanded_command())[1:]
            for worker in master["workers"]:
                worker["argv"] = master["argv"]
        # `running_files`: what the files said when the running master started (changed since,
        # without a restart: written after it started): it runs those settings, the files on disk say others
        on_disk = {path: self.files[path].content for path in running_files or {}}
        for path, text in (running_files or {}).items():
            self.files[path].content = text.encode()
        self.process = self._start(master["pid"], announce=True, at=started)
        for path, content in on_disk.items():
            self.files[path].content, self.files[path].mtime = content, self.clock - 3600

    # -- the app ------------------------------------------------------------------------------

    @property
    def master(self) -> dict:
        return self.probe_template["masters"][0]

    def to_host(self, path: str) -> str:
        """A path as the process sees it -> the host path (through the container's mounts)."""
        for mount in (self.master.get("docker") or {}).get("mounts", []):
            dest = mount["destination"].rstrip("/")
            if path == dest or path.startswith(dest + "/"):
                return mount["source"].rstrip("/") + path[len(dest):]
        return path

    def view(self, env: dict | None = None, argv: list[str] | None = None) -> dict:
        m = self.master
        view = load_app(self.files, argv or m["argv"], m["gunicorn_args_from"], m["cwd"],
                        {**m.get("env", {}), **(env or {})}, self.to_host, self.spec["versions"].get("django"))
        view["versions"] = dict(self.spec["versions"])
        return view

    def _start(self, pid: int, announce: bool, at: float | None = None) -> Process:
        """A new master from the files as they are now, started `at` (now by default); in a
        container it is the container's init (its parent is containerd-shim): pid 1 inside."""
        nspid = 1 if self.master.get("container") else pid
        process = Process(pid, self.view(), started=self.clock if at is None else at, nspid=nspid)
        process.worker_started = process.started
        if announce:  # gunicorn's default error log: the master's lines carry its own pid, as it sees it
            g = process.view.get("gunicorn") or {}
            self.log_gunicorn(nspid, f"Starting gunicorn {self.spec['versions'].get('gunicorn')}", process.started)
            for address in g.get("bind") or []:
                self.log_gunicorn(nspid, f"Listening at: http://{address} ({nspid})", process.started)
            # what the restarted master logs; a scripted `restarted_logs_worker` contradicts its loader
            logged = self.faults.get("restarted_logs_worker") if self.restarts else None
            self.log_gunicorn(nspid, f"Using worker: {logged or process.worker_name}", process.started)
            for i in range(int(g.get("workers") or 1)):
                self.log_gunicorn(nspid + 1 + i, f"Booting worker with pid: {nspid + 1 + i}", process.started)
        return process

    def log_gunicorn(self, pid: int, message: str, at: float | None = None, level: str = "INFO") -> None:
        """A line in gunicorn's default error-log format: `[date] [PID] [LEVEL] message`."""
        date = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(self.clock if at is None else at))
        self._log(f"[{date}] [{pid}] [{level}] {message}", pid)

    def supervisor_log_files(self) -> dict:
        """What supervisord's getProcessInfo says of the program's output files (its section in the
        manager's file): stderr "" when redirect_stderr sends it to stdout or for NONE."""
        where = self.spec.get("command") or {}
        if where.get("prefix") != "command=" or where.get("file") not in self.files:
            return {}
        parser = configparser.RawConfigParser()
        parser.read_string(self.files[where["file"]].content.decode())
        section = where.get("section") or next((s for s in parser.sections() if s.startswith("program:")), None)
        if section is None or not parser.has_section(section):
            return {}
        auto = f"/var/log/supervisor/{section[len('program:'):]}-%s---supervisor-k2j8x1.log"

        def logfile(kind: str) -> str:
            value = parser.get(section, f"{kind}_logfile", fallback="AUTO")
            return "" if value.upper() == "NONE" else (auto % kind if value.upper() == "AUTO" else value)

        redirect = parser.get(section, "redirect_stderr", fallback="false").lower() in ("true", "1", "yes")
        return {"stdout_logfile": logfile("stdout"), "stderr_logfile": "" if redirect else logfile("stderr")}

    def manager_command(self) -> str | None:
        """The command line in the manager's own file (host.json "command": the file, and the
        line's prefix: `command=`, `ExecStart=`, `command:`), as the file is now."""
        where = self.spec.get("command")
        if not where or where["file"] not in self.files:
            return None
        section = None
        for line in self.files[where["file"]].content.decode().splitlines():
            if line.strip().startswith("[") and line.strip().endswith("]"):
                section = line.strip()[1:-1]
            if where.get("section") and section != where["section"]:
                continue  # one program's command among several in the file
            if line.strip().startswith(where["prefix"]):
                return line.strip()[len(where["prefix"]):].strip()
        return None

    def expanded_command(self) -> str:
        """The loaded command line with the variables of the unit's env file (host.json "command"
        "env_file") expanded as systemd does at each start (no daemon-reload needed): `${NAME}` one
        word, `$NAME` alone split at whitespace; the file as it is now."""
        env_file = (self.spec.get("command") or {}).get("env_file")
        if not env_file or env_file not in self.files:
            return self.loaded_command or ""
        values = {}
        for line in self.files[env_file].content.decode().splitlines():
            name, eq, value = line.partition("=")
            if eq and not line.lstrip().startswith(("#", ";")):
                values[name.strip()] = value.strip().strip("'\"")
        words = []
        for word in shlex.split(self.loaded_command or ""):
            if word.startswith("$") and not word.startswith("${") and word[1:] in values:
                words += shlex.split(values[word[1:]])
            else:
                words.append(re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), ""), word))
        return shlex.join(words)

    def reload_manager(self) -> None:
        """The manager rereads its own files (daemon-reload, supervisorctl reread, compose up)."""
        self.loaded_command = self.manager_command()
        self.supervisor_logs = self.supervisor_log_files()

    def restart_app(self, recreate: bool = False) -> None:
        """The manager restarted gunicorn: a new master that loads the files as they are now, with
        the command line the manager has loaded (a changed unit needs a daemon-reload first);
        `recreate`: a new container (compose up), with a new id and a log of its own."""
        self.restarts += 1
        self.program_state = "RUNNING"
        self.master_gone = False
        if self.faults.get("restart_noop"):
            return  # the manager said it restarted; the same master still runs
        if self.loaded_command:
            master = self.master
            master["argv"] = master["argv"][:master["gunicorn_args_from"]] + shlex.split(self.expanded_command())[1:]
            for worker in master["workers"]:
                worker["argv"] = master["argv"]
        self.log_gunicorn(self.process.nspid, "Handling signal: term")
        self.log_gunicorn(self.process.nspid, "Shutting down: Master")
        old = self.master.get("container")
        if old:
            self.sessions.pop(old, None)  # a container restart ends its session
        if old and recreate:
            new = sha256(f"{old}{self.restarts}".encode())
            self.master["container"] = self.master["docker"]["id"] = new
        self.process = self._start(self.process.pid + 100, announce=True)

    def _log(self, line: str, pid: int | None = None) -> None:
        """A line of the app's output; journald records the stream's process (the master the
        manager started: its workers write to the same stream) as the writer of every line."""
        self.clock += 0.01
        process = getattr(self, "process", None)
        writer = pid if pid is not None else (process.pid if process is not None else None)
        self.log.append((self.clock, line, self.master.get("container"), writer))

    def log_text(self, since: float | None = None, container: str | None = None, lines: int | None = None,
                 pid: int | None = None) -> str:
        """The app's output: all of it (a file, the journal), one container's (docker logs), or the
        lines one process wrote (the journal's _PID match)."""
        rows = [line for t, line, c, writer in self.log if (since is None or t >= since)
                and (container is None or c == container) and (pid is None or writer == pid)]
        return "".join(line + "\n" for line in rows[-lines if lines else 0:])

    @property
    def db_total(self) -> int:
        return self.db["total"]

    def _connect(self, n: int = 1) -> None:
        self.db["total"] += n
        self.own_connects += n

    def serve(self, n: int, width: int) -> list[tuple[int, float]]:
        """`n` requests, `width` at a time, against the running app: (status, seconds) each; DB
        connections opened as the running workers open them; one acquisition log line each."""
        rows = []
        reuse = keeps_connections(self.process.view) and not self.faults.get("reuse_broken")
        touches_db = not self.faults.get("page_without_db")
        status = self.http_status()
        for i in range(n):
            if status != 200:
                rows.append((status, 0.004))
                continue
            cold = touches_db and (i % max(1, width) >= self.process.warm_threads or not reuse)
            if cold:
                self._connect()
                if reuse:
                    self.process.warm_threads = min(self.process.capacity, self.process.warm_threads + 1)
            if touches_db:
                self._log(f"连接获取耗时: {3.1 if cold else 0.08}ms")
            slow = self.faults.get("slow_after_restart_s", 0) if self.restarts + self.reloads and not self.faults.get("restart_noop") else 0
            rows.append((200, (0.025 if cold else 0.012) + slow))
        return rows

    def http_status(self) -> int:
        """What the app answers on the verify URL: 200, or the scripted `http_after_restart` status
        once a new master runs (it stays so after any later restart: the app is broken)."""
        if self.master_gone:
            return 0  # nothing listens: curl's 000
        restarted = self.restarts + self.reloads > 0 and not self.faults.get("restart_noop")
        return int(self.faults.get("http_after_restart", 200)) if restarted else 200

    def db_server(self) -> dict:
        return {alias: {**info, "connections_total": self.db_total}
                for alias, info in self.spec["db_server"].items()}

    # -- the scripted faults -------------------------------------------------------------------

    def drop_if(self, stage_hint: str) -> None:
        if self.faults.get("drop_connection_on") == stage_hint:
            self.connected = False
            raise HostUnreachable(f"{self.host_name}: connection lost: Socket is closed")

    def changed_files(self) -> dict[str, bytes]:
        return {p: f.content for p, f in self.files.items() if self.original.get(p) != f.content}


class FakeRemote(AgentCalls):
    """What HostFlow uses of Remote, over a FakeHost: the wire-level `agent` answers recorded agent
    replies, and the typed calls (transport.protocol.AgentCalls) are the real ones over it.
    `FakeRemote.factory(host)` is the
    `remote_factory` HostFlow takes."""

    def __init__(self, fake: FakeHost, host, accept_new_host_key: bool = False):
        self.fake, self.host, self.accept_new_host_key = fake, host, accept_new_host_key
        self.round_trips = 0

    @staticmethod
    def factory(fake: FakeHost):
        return lambda host, accept_new_host_key=False: FakeRemote(fake, host, accept_new_host_key)

    def open(self, timeout: float = 10) -> "FakeRemote":
        reason = self.fake.faults.get("unreachable")
        if reason:
            raise HostUnreachable(f"{self.host.name}: cannot reach {self.host.address}:22: {reason}")
        self.fake.connected, self.fake.host_name = True, self.host.name
        self.round_trips += 1
        return self

    def close(self) -> None:
        self.fake.connected = False

    def __enter__(self) -> "FakeRemote":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_connected(self) -> None:
        if not self.fake.connected:
            raise HostUnreachable(f"{self.host.name}: connection lost: SSH transport is closed")

    # -- commands --------------------------------------------------------------------------------

    def run(self, argv: list[str], *, sudo: bool = False, stdin: str | bytes | None = None,
            timeout: float = 120, check: bool = True) -> CommandResult:
        self._check_connected()
        self.round_trips += 1
        argv = [str(a) for a in argv]
        self.fake.commands.append(argv)
        out = self._command(argv, sudo)
        if check and out.rc != 0:
            detail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise RemoteError(f"{self.host.name}: `{shlex.join(argv)[:200]}` exited {out.rc}: {detail[0]}")
        return out

    def _command(self, argv: list[str], sudo: bool) -> CommandResult:
        fake = self.fake
        if argv[:1] in (["systemctl"], ["supervisorctl"], ["docker-compose"], ["docker"]) and not sudo:
            return CommandResult(1, "", f"{argv[0]}: Access denied (the SSH user is not root)\n")
        if argv[:5] == ["sudo", "-n", "sh", "-c", SETTLE_SCRIPT]:  # supervisorctl status, until settled
            return CommandResult(0 if fake.program_state == "RUNNING" else 1, fake.program_state + "\n", "")
        if argv[:3] == ["sh", "-c", WAIT_SCRIPT]:
            fake.drop_if("wait")
            status = fake.http_status()
            if status != 200:
                return CommandResult(1, f"last HTTP status: {status}\n", "")
            return CommandResult(0, "", "")
        if argv[:2] == ["systemctl", "daemon-reload"]:
            fake.reload_manager()
            return CommandResult(0, "", "")
        if argv[:1] == ["supervisorctl"] and argv[-1:] == ["reread"]:
            fake.reload_manager()
            return CommandResult(0, "schoolsite: changed\n", "")
        if argv[:1] == ["supervisorctl"] and argv[-2:-1] == ["update"]:  # stops, applies, starts the program
            fake.drop_if("restart")
            if fake.faults.get("restart_fails", 0) > 0:
                fake.faults["restart_fails"] -= 1
                fake.program_state = "FATAL"
                return CommandResult(0, "schoolsite: stopped\nschoolsite: updated process group\n", "")
            fake.restart_app()
            return CommandResult(0, "schoolsite: stopped\nschoolsite: updated process group\n", "")
        restarting = (argv[:1] == ["systemctl"] and argv[1:2] == ["restart"]) or \
            (argv[:1] in (["docker-compose"], ["docker"]) and ("restart" in argv or "up" in argv))
        if restarting:
            fake.drop_if("restart")
            if fake.faults.get("restart_fails", 0) > 0:
                fake.faults["restart_fails"] -= 1
                return CommandResult(1, "", f"Job for {argv[-1]} failed because the control process exited "
                                            "with error code.")
            if "up" in argv:  # compose recreates the container from the file as it is now
                fake.reload_manager()
            fake.restart_app(recreate="up" in argv)
            return CommandResult(0, "", "")
        raise AssertionError(f"the fake host has no scripted answer for the command {argv}")

    def start(self, argv: list[str], *, timeout: float = 120) -> FakeStarted:
        started = self._start(argv)
        self.fake.started.append(started)
        return started

    def _start(self, argv: list[str]) -> FakeStarted:
        self._check_connected()
        self.round_trips += 1
        argv = [str(a) for a in argv]
        fake = self.fake
        if argv[:3] == ["sh", "-c", WARMUP_SCRIPT]:
            rounds, width = int(argv[5]), int(argv[6])
            for _ in range(rounds):
                fake.serve(width, width)
            return FakeStarted(argv, CommandResult(0, "", ""))
        if argv[:3] == ["sh", "-c", REQUESTS_SCRIPT]:
            # someone edits a file while the baseline runs (after the plan read it, before any write)
            for path, text in fake.faults.pop("edited_during_baseline", {}).items():
                fake.files[path].content, fake.files[path].mtime = text.encode(), fake.clock
            n, width = int(argv[5]), int(argv[6])
            fake.clock += 0.01
            started = fake.clock
            rows = fake.serve(n, width)
            fake.clock += 0.5
            text = f"{started:.6f}\n" + "".join(f"{code} {s:.6f}\n" for code, s in rows) + f"end {fake.clock:.6f}\n"
            return FakeStarted(argv, CommandResult(0, text, ""))
        raise AssertionError(f"the fake host has no scripted answer for the started command {argv}")

    def finish(self, started: FakeStarted, *, check: bool = True) -> CommandResult:
        self._check_connected()
        assert not started.abandoned, "finish() of an abandoned command"
        return started.result

    # -- the agent ---------------------------------------------------------------------------------

    def agent(self, *ops: dict, timeout: float = 180, parallel: bool = False) -> list[dict]:
        self._check_connected()
        self.round_trips += 1
        if self.fake.faults.get("sudo_denied"):  # the agent never starts: Remote.agent's own message
            raise RemoteError(f"{self.host.name}: sudo denied for {self.host.ssh_target().user} "
                              "(passwordless sudo is required)")
        ops = copy.deepcopy(ops)  # as JSON would: the flow's dicts are never the fake's
        replies = []
        for op in ops:
            self.fake.ops.append(op["op"])
            self.fake.drop_if(f"agent:{op['op']}")
            handler = getattr(self, "_op_" + op["op"], None)
            if handler is None:
                raise AssertionError(f"the fake host has no scripted answer for agent op {op['op']!r}")
            error = self.fake.faults.get("agent_error", {}).get(op["op"])
            replies.append({"agent_error": error} if error else json.loads(json.dumps(handler(op))))
        for op, reply in zip(ops, replies, strict=True):
            if "agent_error" in reply:
                raise RemoteError(f"{self.host.name}: agent {op['op']} failed: {reply['agent_error']}")
        return replies

    def _op_lock(self, op: dict) -> dict:
        fake = self.fake
        if fake.lock is not None and fake.lock.get("run_id") != op["run_id"]:
            return {"ok": False, "holder": fake.lock}
        fake.lock = {"run_id": op["run_id"], "controller": op.get("controller"), "pid": op.get("pid"),
                     "since": fake.clock}
        return {"ok": True}

    def _op_unlock(self, op: dict) -> dict:
        fake = self.fake
        if fake.lock is None:
            return {"ok": True, "held": False}
        if fake.lock.get("run_id") != op.get("run_id") and not op.get("break"):
            return {"ok": False, "holder": fake.lock}
        holder, fake.lock = fake.lock, None
        return {"ok": True, "held": True, "holder": holder}

    def _op_probe(self, op: dict) -> dict:
        fake = self.fake
        reply = copy.deepcopy(fake.probe_template)
        if fake.master_gone:  # no gunicorn in the process table until the manager starts one
            reply["masters"] = []
            return reply
        master = reply["masters"][0]
        old_pid, pid = master["pid"], fake.process.pid
        master["pid"] = pid
        master["nspid"], master["started"] = fake.process.nspid, fake.process.started  # /proc/PID/status, stat
        g = fake.process.view.get("gunicorn") or {}
        threads = int(g.get("threads") or 1) + 1 if "ThreadWorker" in (g.get("effective_worker_class") or "") else 1
        base = pid + 1 + 10 * fake.process.generation  # a HUP's new workers: new pids
        master["workers"] = [{**w, "pid": base + i, "threads": threads,
                              "started": fake.process.worker_started or fake.process.started}
                             for i, w in enumerate((master["workers"] * 8)[:int(g.get("workers") or 1)])]
        sup = master.get("supervisor")
        if sup and sup.get("status"):
            sup["status"] = sup["status"].replace(f"pid {old_pid},", f"pid {pid},")
        if sup is not None:  # supervisord's XML-RPC socket answers: getProcessInfo's log files
            sup["via"] = "environment" if sup.get("program") else "xmlrpc"
            sup["logs"] = {**fake.supervisor_logs, "pid": pid, "via": "xmlrpc"}
        if master.get("systemd") is not None:  # `systemctl show`: the unit as systemd has it loaded now
            master["systemd"]["main_pid"] = pid
            master["systemd"]["exec_start"] = fake.loaded_command
            env_file = (fake.spec.get("command") or {}).get("env_file")
            if env_file:  # EnvironmentFile= as systemctl show names it
                master["systemd"]["env_files"] = [{"path": env_file, "optional": False}]
        # the agent reads the master's listening sockets: where its loaded config binds (TCP only)
        master["listen"] = [b for b in g.get("bind") or [] if not b.startswith(("unix:", "fd://"))]
        fake.clock += 0.01
        reply["time"] = fake.clock
        return reply

    def _file_info(self, path: str, sha_only: bool = False) -> dict:
        f = self.fake.files.get(path)
        if f is None:
            return {"path": path, "exists": False}
        info = {"path": path, "exists": True, "symlink": False, "realpath": path, "mode": f.mode, "uid": f.uid,
                "gid": f.gid, "size": len(f.content), "is_file": True, "mtime": f.mtime, "sha256": sha256(f.content)}
        if not sha_only:
            info["content"] = base64.b64encode(f.content).decode()
        return info

    def _op_read(self, op: dict) -> dict:
        paths = list(op["paths"])
        for pattern in op.get("globs", []):
            paths += [p for p in sorted(self.fake.files) if fnmatch.fnmatchcase(p, pattern) and p not in paths]
        listings: dict[str, Any] = {}
        for directory in op.get("list_dirs", []):
            prefix = directory.rstrip("/") + "/"
            names = {p[len(prefix):].split("/")[0] for p in self.fake.files if p.startswith(prefix)}
            listings[directory] = sorted(names) if names else {"error": f"[Errno 2] No such file or directory: "
                                                                        f"'{directory}'"}
        return {"files": [self._file_info(p, op.get("sha_only", False)) for p in paths], "listings": listings}

    def _op_write(self, op: dict) -> dict:
        """hostagent.op_write: check the planned sha256, back up (the first backup is the original),
        validate the new content, rename it into place."""
        fake, path = self.fake, op["path"]
        edit = fake.faults.get("edited_just_before_write", {}).pop(path, None)
        if edit is not None:  # someone else's edit lands after apply's stale check, before this write
            fake.files[path].content, fake.files[path].mtime = edit.encode(), fake.clock
        f = fake.files.get(path)
        if f is None:
            return {"ok": False, "error": f"{path}: not a regular file"}
        if sha256(f.content) != op["expected_sha256"]:
            return {"ok": False, "error": f"{path} changed since it was planned"}
        backup = posixpath.join(op["backup_dir"], path.lstrip("/"))
        if backup not in fake.files:  # shutil.copystat: the backup keeps the original's mtime
            fake.files[backup] = FakeFile(f.content, f.mode, f.uid, f.gid, f.mtime)
        data = base64.b64decode(op["content"])
        problem = fake.faults.get("write_invalid", {}).get(path)
        if problem is None and op.get("validate") == "python":
            try:
                compile(data, path, "exec")
            except SyntaxError as exc:
                problem = f"SyntaxError: {exc.msg}"
        if problem:
            return {"ok": False, "error": f"{path}: new content failed validation: {problem}", "backup": backup}
        before = f.content
        fake.clock += 0.01
        fake.files[path] = FakeFile(data, f.mode, f.uid, f.gid, fake.clock)  # renamed into place: written now
        return {"ok": True, "backup": backup, "sha256_before": sha256(before), "sha256_after": sha256(data)}

    def _dir_exists(self, directory: str) -> bool:
        return directory == "/" or any(p.startswith(directory.rstrip("/") + "/") for p in self.fake.files)

    def _op_create(self, op: dict) -> dict:
        """hostagent.op_create: refused when a file is there, its missing directories listed."""
        fake, path = self.fake, op["path"]
        if path in fake.files:
            return {"ok": False, "error": f"{path} exists: the plan saw no file there (run plan again)"}
        made, directory = [], posixpath.dirname(path)
        while not self._dir_exists(directory):
            made.insert(0, directory)
            directory = posixpath.dirname(directory)
        data = base64.b64decode(op["content"])
        problem = fake.faults.get("write_invalid", {}).get(path)
        if problem:
            return {"ok": False, "error": f"{path}: new content failed validation: {problem}"}
        if op.get("dry_run"):
            return {"ok": True, "dry_run": True, "created_dirs": made}
        fake.clock += 0.01
        fake.files[path] = FakeFile(data, 0o644, 0, 0, fake.clock)
        return {"ok": True, "created_dirs": made, "sha256_after": sha256(data)}

    def _remove_created(self, item: dict) -> dict:
        """hostagent.remove_created: this run's bytes removed, another hand's file left."""
        path, current = item["path"], self.fake.files.get(item["path"])
        if current is None:
            return {"path": path, "ok": True, "source": "already"}
        if sha256(current.content) not in (item.get("ours") or []):
            return {"path": path, "ok": False, "error": f"{path}: changed by another hand since the tool "
                                                        "created it: not removed"}
        del self.fake.files[path]
        return {"path": path, "ok": True, "source": "removed", "error": None}

    def _op_restore(self, op: dict) -> dict:
        """hostagent.op_restore: the host backup if it verifies, else the controller's copy."""
        fake, results = self.fake, []
        for item in op["files"]:
            if item.get("absent"):
                results.append(self._remove_created(item))
                continue
            path, want = item["path"], item["sha256"]
            current = fake.files.get(path)
            if current is not None and sha256(current.content) == want:
                results.append({"path": path, "ok": True, "source": "already"})
                continue
            now = sha256(current.content) if current is not None else None
            if item.get("ours") is not None and now not in item["ours"]:
                if item.get("written"):
                    results.append({"path": path, "ok": False, "error": f"{path}: changed by another hand since "
                                                                        "the tool wrote it: not overwritten"})
                else:
                    results.append({"path": path, "ok": True, "source": "untouched"})
                continue
            failing = fake.faults.get("restore_fails", {}).get(path)
            if failing:
                results.append({"path": path, "ok": False, "error": f"{path}: {failing}"})
                continue
            backup = fake.files.get(item.get("backup") or "")
            if backup is not None and sha256(backup.content) == want:
                data, source = backup.content, "host-backup"
            elif item.get("content") is not None:
                data, source = base64.b64decode(item["content"]), "controller-copy"
                if sha256(data) != want:
                    results.append({"path": path, "ok": False, "error": "controller copy does not match sha256"})
                    continue
            else:
                results.append({"path": path, "ok": False, "error": "no verified copy of the original"})
                continue
            fake.clock += 0.01
            fake.files[path] = FakeFile(data, item.get("mode", 0o644), item.get("uid", 0), item.get("gid", 0),
                                        fake.clock)  # a new file renamed into place: written now
            results.append({"path": path, "ok": True, "source": source, "error": None})
        return {"files": results}

    def _introspect_reply(self, op: dict) -> dict:
        fake = self.fake
        if op.get("container") and op["container"] != fake.master.get("container"):  # docker exec in a removed one
            return {"rc": 1, "stdout": "", "stderr": f"Error response from daemon: No such container: {op['container']}\n"}
        if fake.faults.get("app_python_broken"):
            return {"rc": 1, "stdout": "", "stderr": "ModuleNotFoundError: No module named 'django'\n"}
        args = op.get("args", [])
        argv = None
        if len(args) > 1:  # the gunicorn words the request names (the restarted command line)
            argv = list(fake.master["argv"][:fake.master["gunicorn_args_from"] - 1]) + args[1:]
        view = fake.view(env=op.get("env"), argv=argv)
        if fake.changed_files() and fake.faults.get("patched_config_error"):
            view["errors"].append(fake.faults["patched_config_error"])
        if args[:1] == ["1"]:
            view["db_server"] = fake.db_server()
        return {"rc": 0, "stdout": "\n" + INTROSPECT_MARK + json.dumps(view), "stderr": ""}

    def _op_introspect(self, op: dict) -> dict:
        return self._introspect_reply(op)

    def _op_counters(self, op: dict) -> dict:
        fake = self.fake
        key = op.get("container") or ""
        if key and key != fake.master.get("container"):  # the session cannot start in a removed container
            return {"errors": ["the counter session did not answer"], "fresh": True}
        fresh = key not in fake.sessions
        view = self._introspect_reply({**op, "args": ["0", *op.get("args", [])[1:]]}) if op.get("view") else None
        if fresh:
            fake.sessions[key] = True
            fake._connect()  # the session's own connection, kept for the whole SSH connection
        reply: dict[str, Any] = {"db_server": fake.db_server(), "fresh": fresh}
        if view is not None:
            reply["view"] = view
        return reply

    def _op_logs(self, op: dict) -> dict:
        fake = self.fake
        out: dict[str, Any] = {"_offsets": {}, "_time": fake.clock}
        text = fake.log_text().encode()
        unreadable = fake.faults.get("log_unreadable")  # e.g. "Permission denied"
        for item in op["sources"]:
            if item["kind"] == "file":
                if unreadable or (fake.log_path is not None and item["path"] != fake.log_path):
                    reason = unreadable or "No such file or directory"  # the agent's OSError text
                    errno = {"No such file or directory": 2, "Permission denied": 13}.get(reason, 5)
                    out[item["key"]] = {"error": f"[Errno {errno}] {reason}: '{item['path']}'"}
                    continue
                start = item.get("offset")
                if start is None or start > len(text):
                    start = max(0, len(text) - op.get("bytes", 65536))
                out[item["key"]] = text[start:].decode()
                out["_offsets"][item["key"]] = len(text)
            elif item["kind"] in ("docker", "journal"):
                container = item.get("container") if item["kind"] == "docker" else None
                if container is not None and container != fake.master.get("container"):
                    out[item["key"]] = f"Error response from daemon: No such container: {container}\n"
                    continue
                if unreadable and item["kind"] == "journal":  # journalctl failed: the agent's error
                    out[item["key"]] = {"error": f"Failed to open journal: {unreadable}"}
                    continue
                if unreadable:  # `docker logs` exits non-zero: its stderr is the text
                    out[item["key"]] = f"Error response from daemon: {unreadable}\n"
                    continue
                lines = None if item.get("since") else op.get("lines", 400)
                out[item["key"]] = fake.log_text(item.get("since"), container, lines, item.get("pid"))
            else:
                raise AssertionError(f"unknown log source {item}")
        return out

    def _op_tcp_watch(self, op: dict) -> dict:
        fake = self.fake
        if op["action"] == "start":
            fake.watches[op["id"]] = {"total": fake.own_connects, "sessions": len(fake.sessions)}
            return {"ok": True, "endpoints": [], "open_at_start": fake.process.warm_threads}
        watch = fake.watches.pop(op["id"])
        # the workers' own connects: the counter's growth less any counter session started meanwhile
        new = fake.own_connects - watch["total"] - (len(fake.sessions) - watch["sessions"])
        return {"new": new, "samples": 25, "interval_ms": 20, "connections": [], "open_at_start": 0,
                "active_opens": new}

    def _op_hup_reload(self, op: dict) -> dict:
        """hostagent.op_hup_reload: gunicorn's Arbiter.reload on SIGHUP: the same master re-runs its
        config file (not a `python:` module, cached) and, unless preloaded, the new workers import
        the settings anew; new workers spawn, the old ones stop. `hup_ignored`: a master that no
        longer handles HUP (monkey-patched by its own config): the old workers stay."""
        fake, process = self.fake, self.fake.process
        if op["pid"] != process.pid or op.get("started") != process.started:
            return {"signalled": False, "error": f"pid {op['pid']} is not the master probed"}
        fake.commands.append(["kill", "-HUP", str(op["pid"])])
        g = process.view.get("gunicorn") or {}
        old = [process.pid + 1 + 10 * process.generation + i for i in range(int(g.get("workers") or 1))]
        fake.clock += 0.05
        sent = fake.clock
        if not fake.faults.get("hup_ignored"):
            fake.log_gunicorn(process.nspid, "Handling signal: hup")
            fake.log_gunicorn(process.nspid, "Hang up: Master")
            view = fake.view()
            if g.get("preload_app"):  # the workers inherit the master's imported app: its settings stay
                view["databases"] = process.view.get("databases")
            process.view, process.generation, process.warm_threads = view, process.generation + 1, 0
            fake.clock += 0.5
            process.worker_started = fake.clock
            fake.reloads += 1
        g = process.view.get("gunicorn") or {}
        base = process.pid + 1 + 10 * process.generation
        threads = int(g.get("threads") or 1) + 1 if "ThreadWorker" in (g.get("effective_worker_class") or "") else 1
        started = process.worker_started or process.started
        workers = [{"pid": base + i, "started": started, "threads": threads} for i in range(int(g.get("workers") or 1))]
        fake.clock += float(op.get("timeout", 60)) if fake.faults.get("hup_ignored") else 0.01
        if fake.faults.get("hup_kills_master"):  # the new workers ran, then cannot serve: the master halts
            fake.log_gunicorn(process.nspid, "Worker failed to boot.")
            fake.log_gunicorn(process.nspid, "Shutting down: Master")
            fake.master_gone = True
        return {"signalled": True, "sent": sent, "now": fake.clock, "master_started": process.started, "old": old,
                "workers": workers}

    def _op_supervisor_restart(self, op: dict) -> dict:
        fake = self.fake
        fake.commands.append(["supervisor_restart", op["program"]])
        fake.drop_if("restart")
        if fake.faults.get("restart_fails", 0) > 0:
            fake.faults["restart_fails"] -= 1
            return {"ok": False, "error": "Fault: SPAWN_ERROR: schoolsite", "state": "FATAL"}
        fake.restart_app()
        return {"ok": True, "state": "RUNNING", "before": "RUNNING"}
