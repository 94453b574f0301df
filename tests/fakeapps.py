"""A fake host running several gunicorn apps (tests/fixtures/flow/multi/<name>/), for the host
flow's per-app paths: each app is a FakeHost (tests/fakeremote.py) for its own master of the
host's probe, all of them over ONE filesystem (a file two apps load is one file), one lock, and
the DB servers the fixture names (two apps on one database share its cumulative counter, while
each app's tcp watch counts its own workers' connections, as the agent's does).

FakeAppsRemote answers as FakeRemote, routing each request to the app it is about: a probe lists
every app's master; introspect/counters by the master's pid; logs by file or container;
tcp_watch by master pid; supervisor/systemd/compose commands by program, unit or service
(`supervisorctl reread` and `daemon-reload` reach every app: the manager rereads its files);
timed requests and the serving check by the URL's port.

host.json: `_models`, `name`, `probe`, `versions`, `db_server`, and `apps`: name -> {"command":
the manager's file, prefix and section holding its command line, "db": the database it uses}.
A scenario's `faults` are per app ({"shop": {...}}), plus `neighbour_traffic`
({"during": APP, "by": OTHER, "requests": N}: OTHER serves N requests whenever APP's timed
requests run: the shared DB server's counter counts them, APP's own count must not).
"""
from __future__ import annotations

import copy
import json
from urllib.parse import urlsplit

from fakeremote import FLOW, FakeHost, FakeRemote
from remediation.errors import RemoteError
from remediation.managers.supervisor import SETTLE_SCRIPT
from remediation.restart import WAIT_SCRIPT
from remediation.transport.remote import CommandResult
from remediation.verify.measure import REQUESTS_SCRIPT, WARMUP_SCRIPT

MULTI = FLOW / "multi"


class FakeApps:
    """One host, several apps: `apps[name]` is each app's FakeHost (one shared filesystem)."""

    def __init__(self, name: str, faults: dict | None = None, files: dict[str, str] | None = None):
        spec_dir = MULTI / name
        spec = json.loads((spec_dir / "host.json").read_text())
        faults = dict(faults or {})
        self.neighbour_traffic = faults.pop("neighbour_traffic", None)
        dbs: dict[str, dict] = {}
        self.apps: dict[str, FakeHost] = {}
        for index, (app, app_spec) in enumerate(spec["apps"].items()):
            db = dbs.setdefault(app_spec.get("db") or app, {"total": 5000})
            fake = FakeHost(name, faults=faults.get(app), files=files, spec={"command": app_spec["command"]},
                            spec_dir=spec_dir, master_index=index, db=db)
            if self.apps:  # one filesystem: every app's fake reads and writes the first one's
                first = next(iter(self.apps.values()))
                fake.files, fake.original = first.files, first.original
            self.apps[app] = fake
        self.first = next(iter(self.apps.values()))

    @property
    def files(self):
        return self.first.files

    def pid(self, app: str) -> int:
        return self.apps[app].process.pid

    def port_of(self, fake: FakeHost) -> int:
        bind = (fake.process.view.get("gunicorn") or {}).get("bind") or ["127.0.0.1:8000"]
        return int(bind[0].rsplit(":", 1)[1])


class FakeAppsRemote(FakeRemote):
    """FakeRemote over a FakeApps host: each request reaches the app it names."""

    def __init__(self, host_fake: FakeApps, host, accept_new_host_key: bool = False):
        super().__init__(host_fake.first, host, accept_new_host_key)
        self.host_fake = host_fake
        self.remotes = {name: FakeRemote(fake, host) for name, fake in host_fake.apps.items()}

    @staticmethod
    def factory(host_fake: FakeApps):  # type: ignore[override]
        return lambda host, accept_new_host_key=False: FakeAppsRemote(host_fake, host, accept_new_host_key)

    def open(self, timeout: float = 10) -> "FakeAppsRemote":
        super().open(timeout)
        for fake in self.host_fake.apps.values():
            fake.connected, fake.host_name = True, self.host.name
        return self

    def close(self) -> None:
        for fake in self.host_fake.apps.values():
            fake.connected = False

    # -- routing -----------------------------------------------------------------------------------

    def _app(self, pred, what: str) -> FakeRemote:
        found = [self.remotes[name] for name, fake in self.host_fake.apps.items() if pred(fake)]
        if len(found) != 1:
            raise AssertionError(f"the fake host cannot tell which app {what} is about ({len(found)} match)")
        return found[0]

    def _by_pid(self, pid: int) -> FakeRemote:
        return self._app(lambda f: f.process.pid == pid, f"pid {pid}")

    def _by_port(self, url: str) -> FakeRemote:
        port = urlsplit(url).port
        return self._app(lambda f: self.host_fake.port_of(f) == port, f"URL {url}")

    def _by_name(self, name: str) -> FakeRemote:
        def names(fake: FakeHost) -> set[str]:
            m = fake.master
            labels = (m.get("docker") or {}).get("labels") or {}
            return {x for x in ((m.get("supervisor") or {}).get("program"), m.get("systemd_unit"),
                                labels.get("com.docker.compose.service")) if x}
        return self._app(lambda f: name in names(f) or name.split(":")[-1] in names(f), f"name {name}")

    def agent(self, *ops: dict, timeout: float = 180, parallel: bool = False) -> list[dict]:
        self._check_connected()
        self.round_trips += 1
        ops = copy.deepcopy(ops)
        replies = []
        for op in ops:
            self.fake.ops.append(op["op"])
            kind = op["op"]
            if kind == "probe":
                parts = [self.remotes[name]._op_probe(op) for name in self.host_fake.apps]
                reply = parts[0]
                reply["masters"] = [p["masters"][0] for p in parts]
            elif kind in ("lock", "unlock", "read", "write", "restore"):
                reply = getattr(self, "_op_" + kind)(op)
            elif kind in ("introspect", "counters", "hup_reload"):
                reply = getattr(self._by_pid(op["pid"]), "_op_" + kind)(op)
            elif kind == "tcp_watch":
                target = (self._by_pid(op["master"]) if op["action"] == "start" else
                          self._app(lambda f, op=op: op["id"] in f.watches, f"watch {op['id']}"))
                reply = target._op_tcp_watch(op)
            elif kind == "logs":
                source = op["sources"][0]
                target = (self._app(lambda f, source=source: f.log_path == source["path"], source["path"]) if source["kind"] == "file"
                          else self._app(lambda f, source=source: f.master.get("container") == source.get("container"), str(source)))
                reply = target._op_logs(op)
            elif kind == "supervisor_restart":
                reply = self._by_name(op["program"])._op_supervisor_restart(op)
            else:
                raise AssertionError(f"the fake host has no scripted answer for agent op {kind!r}")
            replies.append(json.loads(json.dumps(reply)))
        for op, reply in zip(ops, replies, strict=True):
            if "agent_error" in reply:
                raise RemoteError(f"{self.host.name}: agent {op['op']} failed: {reply['agent_error']}")
        return replies

    def _command(self, argv: list[str], sudo: bool) -> CommandResult:
        if argv[:3] == ["sh", "-c", WAIT_SCRIPT]:
            return self._by_port(argv[4])._command(argv, sudo)
        if argv[:5] == ["sudo", "-n", "sh", "-c", SETTLE_SCRIPT]:
            return self._by_name(argv[-1])._command(argv, sudo)
        if argv[-1:] == ["reread"] or argv[:2] == ["systemctl", "daemon-reload"]:
            for fake in self.host_fake.apps.values():  # the manager rereads every program's file
                fake.reload_manager()
            return CommandResult(0, "", "")
        if argv[:1] in (["supervisorctl"], ["systemctl"], ["docker-compose"], ["docker"]):
            return self._by_name(argv[-1])._command(argv, sudo)
        raise AssertionError(f"the fake host has no scripted answer for the command {argv}")

    def _start(self, argv: list[str]):
        if argv[:3] in (["sh", "-c", REQUESTS_SCRIPT], ["sh", "-c", WARMUP_SCRIPT]):
            target = self._by_port(argv[4])
            traffic = self.host_fake.neighbour_traffic
            if traffic and argv[2] == REQUESTS_SCRIPT and target.fake is self.host_fake.apps[traffic["during"]]:
                other = self.host_fake.apps[traffic["by"]]
                other.serve(int(traffic["requests"]), other.process.capacity)  # its own clients, meanwhile
            return target._start(argv)
        raise AssertionError(f"the fake host has no scripted answer for the started command {argv}")

