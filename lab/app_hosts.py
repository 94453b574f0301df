"""Lab hosts running several gunicorn apps (issue #24), beside a running lab: each a varied host's
stack under its own name and address, its apps on their own ports, all of a host's apps on ONE
database and role (each app's new-connection count must still be its own).

One class per manager, the layouts real hosts use as parameters; `HOSTS` is every host the
tests bring up (in parallel):

| host | manager | apps (broken: gevent; healthy: gthread) | what is shared |
|---|---|---|---|
| var43 `supervisor-one-file` | supervisor | shop, api | one program file with both sections |
| var46 `supervisor-two-files` | supervisor | shop, api | nothing but the settings module |
| var47 `supervisor-group` | supervisor `[group:web]` | web:shop, web:api | one file, one group |
| var44 `systemd-template` | systemd | schoolsite@blue, schoolsite@green | the template unit |
| var48 `systemd-three-units` | systemd, plain units | shop, admin (both broken), api | the settings module |
| var45 `compose-one-file` | docker-compose | app/shop, app/api | one compose file |

The common part (namespaces, files, stack, database, sshd, start, inventory) is `AppHost`'s; a
manager's class says its files, how it starts and how its owner reports an app's master.
"""
from __future__ import annotations

import configparser
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lab import appfiles, config, databases, hosts, image, lab, network, systemd_host, variety_hosts
from lab import inventory as lab_inventory
from lab.variety import make

SIZING = {"gevent": (2, 16), "gthread": (2, 4)}
SUPERVISOR = {"manager": "supervisor", "gunicorn_home": "other-venv", "settings_from": "env", "worker_from": "config",
              "config_ref": "path", "container_path": "/srv/app", "container_code": "on-host",
              "cgroup": "engine-default", "database": "postgres", "driver": "psycopg3", "db_scope": "per-host",
              "versions": "django5.2-gunicorn27", "app": "own-url-silent", "settings_shape": "dict", "start": "gevent"}
SYSTEMD = {**SUPERVISOR, "manager": "systemd", "settings_from": "wsgi-setdefault", "worker_from": "cmd-args",
           "settings_shape": "dburl"}
COMPOSE = {**SUPERVISOR, "manager": "compose", "gunicorn_home": "image", "container_code": "mounted"}
SETTINGS = "srv/app/schoolsite/settings.py"


def gunicorn_conf(app: str, port: int, worker: str | None, sizing: str) -> str:
    """An app's gunicorn config: its port and sizing; its worker class when `worker` says it here."""
    workers, threads = SIZING[sizing]
    klass = f'worker_class = "{worker}"\n' if worker else ""
    return (f"# gunicorn for {app}\nbind = \"0.0.0.0:{port}\"\n{klass}workers = {workers}\nthreads = {threads}\n"
            "worker_connections = 1000\ntimeout = 30\nloglevel = \"info\"\n")


def health_checks_on(files: dict[str, str]) -> None:
    """The settings module with health checks too: a threaded app there is healthy as it is."""
    text = files["schoolsite/settings.py"]
    for plain, checked in (('"CONN_MAX_AGE": 600', '"CONN_MAX_AGE": 600,\n        "CONN_HEALTH_CHECKS": True'),
                           ("conn_max_age=600", "conn_max_age=600, conn_health_checks=True")):
        if plain in text:
            files["schoolsite/settings.py"] = text.replace(plain, checked)
            return
    raise AssertionError(f"no CONN_MAX_AGE 600 in the settings: {text}")


# -- the common part -----------------------------------------------------------------------------

def serving(s, port: int) -> bool:
    try:
        return lab.http_get(f"http://{s.address}:{port}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def create(s, write, start, mounts=lambda s: [], python: bool = True) -> None:
    """A host from scratch: its namespaces (with the bind mounts `mounts(s)` prepares), `write(s)`,
    the stack (`python`: on the host), its database, sshd, then `start(s)`."""
    destroy(s)
    s.dir.mkdir(parents=True)
    network.create_host_network(s)
    hosts.start(s, mounts(s))
    write(s)
    if python:
        variety_hosts.prepare_python(s)
    databases.ensure_host_database(s.database, s.db_name, s.db_user, variety_hosts.password(s))
    variety_hosts.migrate(s)
    lab.start_sshd(s)
    start(s)


def destroy(s) -> None:
    if s.restart == "compose" and s.dir.exists() and hosts.is_running(s):
        hosts.exec_in(s, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "down", "-t", "2"], check=False,
                      timeout=60)
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def host_vars(s) -> dict:
    """The host's inventory vars; a manager statement naming a host's one app is not this host's."""
    out = dict(variety_hosts.host_vars(s))
    out.pop("remediation_supervisor_program", None)
    return out


def write_inventory(specs_vars: dict, directory: Path) -> str:
    """An inventory of these hosts (name -> (spec, vars)), with their own known_hosts file, in `directory`."""
    known = directory / "known_hosts"
    known.write_text("".join(lab.host_key_line(s) for s, _v in specs_vars.values()))
    data = {"all": {"vars": lab_inventory.fleet_vars(known), "hosts": {n: v for n, (_s, v) in specs_vars.items()}}}
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def install_units(s, files: dict[str, str], enable: dict[str, str]) -> None:
    """A systemd host's units instead of the varied host's one: `files` (host-dir relative -> text),
    `enable`: unit -> the unit file it is an instance of, wanted by multi-user.target."""
    units = s.dir / systemd_host.UNIT_DIR
    (units / "schoolsite.service").unlink(missing_ok=True)
    (units / "multi-user.target.wants" / "schoolsite.service").unlink(missing_ok=True)
    shutil.rmtree(s.dir / "srv" / "gunicorn", ignore_errors=True)
    for rel, text in files.items():
        (s.dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (s.dir / rel).write_text(text)
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    for unit, source in enable.items():
        if not (wants / unit).is_symlink():
            (wants / unit).symlink_to(f"/etc/systemd/system/{source}")


def start_units(s, units: list[str]) -> None:
    systemd_host.wait_booted(s, hosts.nsenter(s))
    hosts.exec_in(s, ["systemctl", "daemon-reload"])
    for unit in units:
        hosts.exec_in(s, ["systemctl", "restart", unit], timeout=60)


def systemd_mounts(s) -> list[tuple[str, str]]:
    """A systemd host's mounts, with its own /etc/default (an EnvironmentFile's home)."""
    (s.dir / "etc-default").mkdir(parents=True, exist_ok=True)
    return variety_hosts.extra_mounts(s) + [(str(s.dir / "etc-default"), "/etc/default")]


def unit_text(s, config: str, description: str, environment_file: str | None = None) -> str:
    """A gunicorn service unit as real servers write one (a template's `%i` in its arguments)."""
    argv = variety_hosts.gunicorn_argv0(s) + ["-c", config, "schoolsite.wsgi:application"]
    env = f"EnvironmentFile=-{environment_file}\n" if environment_file else ""
    return (f"[Unit]\nDescription={description}\nAfter=network.target\n\n"
            "[Service]\nType=simple\nUser=app\nGroup=app\nWorkingDirectory=/srv/app\n" + env +
            f"ExecStart={variety_hosts.exec_start(argv)}\n"
            "ExecReload=/bin/kill -s HUP $MAINPID\nKillMode=mixed\nTimeoutStopSec=10\nRestart=on-failure\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


# -- a host of several apps ----------------------------------------------------------------------

@dataclass(frozen=True)
class AppHost:
    """One host of several apps: `apps` short name -> (port, worker class it starts with)."""

    key: str
    index: int
    values: dict
    apps: dict[str, tuple[int, str]]
    vars: dict = field(default_factory=dict)  # extra inventory vars
    cli_worker: bool = False  # the first broken app's worker class on its own command line, not in its config

    def spec(self):
        return make(self.index, self.values)

    @property
    def ports(self) -> dict[str, int]:
        return {app: port for app, (port, _w) in self.apps.items()}

    @property
    def broken(self) -> list[str]:
        return [app for app, (_p, worker) in self.apps.items() if worker == "gevent"]

    @property
    def healthy(self) -> list[str]:
        return [app for app, (_p, worker) in self.apps.items() if worker != "gevent"]

    def name(self, app: str) -> str:
        """The tool's name for the app (its manager's)."""
        return app

    def on_command_line(self, app: str) -> bool:
        return self.cli_worker and app == self.broken[0]

    def worker_args(self, app: str) -> list[str]:
        return ["-k", self.apps[app][1]] if self.on_command_line(app) else []

    def tree(self, s) -> dict[str, str]:
        """/srv/app: the varied host's tree, health checks on, `conf/<app>.py` per app."""
        files = variety_hosts.app_tree(s, variety_hosts.password(s))
        files.pop("conf/gunicorn_live.py", None)
        health_checks_on(files)
        files["conf/__init__.py"] = ""
        files.update({f"conf/{app}.py": gunicorn_conf(app, port, None if self.on_command_line(app) else worker, worker)
                      for app, (port, worker) in self.apps.items()})
        return files

    # what the test checks, per manager
    def app_files(self, app: str) -> list[str]:
        """Host-dir relative paths of the app's own files (only its fix may change them)."""
        return [f"srv/app/conf/{app}.py"]

    @property
    def shared_files(self) -> list[str]:
        """Files every app loads whole: no fix may change them."""
        return [SETTINGS]

    def part(self, s, app: str):
        """The app's own part of a file it shares (None: none)."""
        return None

    def master_pid(self, s, app: str):
        raise NotImplementedError

    def mounts(self, s) -> list[tuple[str, str]]:
        return variety_hosts.extra_mounts(s)

    def write(self, s) -> None:
        raise NotImplementedError

    def start(self, s) -> None:
        raise NotImplementedError

    def wait_serving(self, s, timeout: float = 120) -> None:
        for app, port in self.ports.items():
            lab.wait_for(lambda port=port: serving(s, port), timeout, f"{s.name}: {app}", interval=0.2)

    def create(self, s) -> None:
        create(s, self.write, self.start, self.mounts, python=s.restart != "compose")
        self.wait_serving(s)

    def host_vars(self, s) -> dict:
        return {**host_vars(s), **self.vars}


@dataclass(frozen=True)
class SupervisorApps(AppHost):
    """Programs of one supervisord: `layout` one-file (both sections in one program file),
    two-files (a file each) or group (`[group:web]` of the programs, in one file)."""

    layout: str = "one-file"
    group: str = "web"

    def name(self, app: str) -> str:
        return f"{self.group}:{app}" if self.layout == "group" else app

    def program_file(self, app: str) -> str:
        return f"etc-supervisor/conf.d/{app if self.layout == 'two-files' else 'schoolsite'}.conf"

    def section(self, s, app: str) -> str:
        argv = variety_hosts.gunicorn_argv0(s) + ["-c", f"/srv/app/conf/{app}.py", *self.worker_args(app),
                                                  "schoolsite.wsgi:application"]
        text = appfiles.supervisor_program(s, shlex.join(argv), {"DJANGO_SETTINGS_MODULE": "schoolsite.settings",
                                                                  "PYTHONUNBUFFERED": "1"})
        return (text.replace("[program:schoolsite]", f"[program:{app}]")
                .replace("/var/log/supervisor/schoolsite.log", f"/var/log/supervisor/{app}.log"))

    def program_files(self, s) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.layout == "group":
            out[self.program_file("")] = f"[group:{self.group}]\nprograms={','.join(self.apps)}\n"
        for app in self.apps:
            rel = self.program_file(app)
            out[rel] = (out[rel] + "\n" if rel in out else "") + self.section(s, app)
        return out

    def app_files(self, app: str) -> list[str]:
        own = [self.program_file(app)] if self.layout == "two-files" else []
        return super().app_files(app) + own

    @property
    def shared_files(self) -> list[str]:
        """The settings, and one program file of several sections (the fix is in the app's config)."""
        return [SETTINGS] + ([] if self.layout == "two-files" else [self.program_file("")])

    def part(self, s, app: str) -> dict:
        """The app's own [program:x] section of its program file (and, in a group, the group's)."""
        parser = configparser.RawConfigParser()
        parser.read_string((s.dir / self.program_file(app)).read_text())
        own = dict(parser.items(f"program:{app}"))
        return {**own, "group": dict(parser.items(f"group:{self.group}"))} if self.layout == "group" else own

    def master_pid(self, s, app: str) -> int:
        """The program's pid as supervisord reports it (from outside the tool)."""
        out = hosts.exec_in(s, ["supervisorctl", "-c", "/etc/supervisor/supervisord.conf", "pid",
                                self.name(app)]).stdout.strip()
        return int(out)

    def write(self, s) -> None:
        files = self.program_files(s)
        appfiles.write_host_files(s, variety_hosts.password(s), tree=self.tree(s), program="")
        conf_d = s.dir / "etc-supervisor" / "conf.d"
        for stale in conf_d.glob("*.conf"):
            stale.unlink()
        for rel, text in files.items():
            (s.dir / rel).write_text(text)

    def start(self, s) -> None:
        lab._start_app(s)


@dataclass(frozen=True)
class SystemdApps(AppHost):
    """Services of one systemd: instances of one template unit (`template`: the worker class from
    each instance's EnvironmentFile), else a plain unit per app (the class in its gunicorn config)."""

    template: bool = False

    def name(self, app: str) -> str:
        return f"schoolsite@{app}.service" if self.template else f"{app}.service"

    def config(self, app: str) -> str:
        port, worker = self.apps[app]
        return gunicorn_conf(app, port, None if self.template else worker, worker)

    def unit_files(self, s) -> dict[str, str]:
        units = systemd_host.UNIT_DIR
        if self.template:
            out = {f"{units}/schoolsite@.service": unit_text(s, "/srv/gunicorn/%i.conf.py", "schoolsite gunicorn (%i)",
                                                             "/etc/default/schoolsite-%i")}
            for app, (_port, worker) in self.apps.items():
                out[f"etc-default/schoolsite-{app}"] = f'GUNICORN_CMD_ARGS="--worker-class {worker}"\nPYTHONUNBUFFERED=1\n'
        else:
            out = {f"{units}/{app}.service": unit_text(s, f"/srv/gunicorn/{app}.conf.py", f"{app} gunicorn")
                   for app in self.apps}
        out.update({f"srv/gunicorn/{app}.conf.py": self.config(app) for app in self.apps})
        return out

    def app_files(self, app: str) -> list[str]:
        own = [f"etc-default/schoolsite-{app}"] if self.template else [f"{systemd_host.UNIT_DIR}/{app}.service"]
        return own + [f"srv/gunicorn/{app}.conf.py"]

    @property
    def shared_files(self) -> list[str]:
        return [SETTINGS] + ([f"{systemd_host.UNIT_DIR}/schoolsite@.service"] if self.template else [])

    def master_pid(self, s, app: str) -> int:
        """The unit's main pid as systemd reports it (from outside the tool)."""
        out = hosts.exec_in(s, ["systemctl", "show", "--property=MainPID", "--value", self.name(app)]).stdout.strip()
        return int(out)

    def mounts(self, s) -> list[tuple[str, str]]:
        return systemd_mounts(s)

    def write(self, s) -> None:
        files = self.tree(s)
        for app in self.apps:
            files.pop(f"conf/{app}.py")
        appfiles.write_host_files(s, variety_hosts.password(s), tree=files, keep=(".venv",))
        install_units(s, self.unit_files(s), {self.name(app): "schoolsite@.service" if self.template
                                              else self.name(app) for app in self.apps})

    def start(self, s) -> None:
        start_units(s, [self.name(app) for app in self.apps])


@dataclass(frozen=True)
class ComposeApps(AppHost):
    """Services of one compose file (project `app`), the code mounted (with `cli_worker`, the fix
    changes the broken app's own service only)."""

    compose_file_rel: str = "srv/app/docker-compose.yml"

    def name(self, app: str) -> str:
        return f"app/{app}"

    def compose_file(self) -> str:
        out = ["# the shop and its API (issue #24's compose host)", 'version: "2.4"', "services:"]
        for app in self.apps:
            argv = ["/opt/venv/bin/gunicorn", "-c", f"/srv/app/conf/{app}.py", *self.worker_args(app)]
            out += [f"  {app}:", f"    image: {config.APP_IMAGE}", "    network_mode: host", "    working_dir: /srv/app",
                    "    volumes:", "      - /srv/app:/srv/app", "    environment:",
                    "      DJANGO_SETTINGS_MODULE: schoolsite.settings", '      PYTHONUNBUFFERED: "1"',
                    f"    command: {shlex.join(argv + ['schoolsite.wsgi:application'])}", "    restart: unless-stopped"]
        return "\n".join(out) + "\n"

    def tree(self, s) -> dict[str, str]:
        files = super().tree(s)
        files["docker-compose.yml"] = self.compose_file()
        return files

    def app_files(self, app: str) -> list[str]:
        return super().app_files(app) + ([self.compose_file_rel] if self.on_command_line(app) else [])

    def part(self, s, app: str) -> dict:
        """The app's own service of the shared compose file, as YAML reads it."""
        return yaml.safe_load((s.dir / self.compose_file_rel).read_text())["services"][app]

    def container(self, s, app: str) -> dict:
        ids = hosts.exec_in(s, ["docker", "ps", "-q", "--no-trunc", "--filter",
                                f"label=com.docker.compose.service={app}"]).stdout.split()
        out = hosts.exec_in(s, ["docker", "inspect", "--format", "{{.Id}} {{.State.Pid}} {{.State.StartedAt}}",
                                *ids]).stdout.split()
        return {"id": out[0], "pid": int(out[1]), "started": out[2]}

    def master_pid(self, s, app: str) -> tuple:
        """What a restart would change, from the engine: the container id, its pid, its start time."""
        found = self.container(s, app)
        return found["id"], found["pid"], found["started"]

    def mounts(self, s) -> list[tuple[str, str]]:
        image.ensure_rootfs_tar()
        return []

    def write(self, s) -> None:
        appfiles.write_host_files(s, variety_hosts.password(s), tree=self.tree(s))

    def start(self, s) -> None:
        lab._start_app(s)


def up(chosen: list[AppHost]) -> dict[str, Exception]:
    """Bring these hosts up in parallel (the Python stacks they share built first, once): the ones
    that failed, by name."""
    specs = {host.spec().name: host for host in chosen}
    for key in sorted({variety_hosts.stack_key(h.spec()) for h in chosen if h.spec().restart != "compose"}):
        variety_hosts.shared_venv(key)
    results = lab.parallel(lambda s: specs[s.name].create(s), [h.spec() for h in chosen])
    return {name: exc for name, exc in results.items() if exc is not None}


SHOP_API = {"shop": (8000, "gevent"), "api": (8001, "gthread")}
HOSTS = {host.key: host for host in [
    SupervisorApps("supervisor-one-file", 43, SUPERVISOR, SHOP_API, layout="one-file"),
    SystemdApps("systemd-template", 44, SYSTEMD, {"blue": (8000, "gevent"), "green": (8001, "gthread")}, template=True),
    ComposeApps("compose-one-file", 45, COMPOSE, SHOP_API, cli_worker=True),
    # the shop's `-k gevent` in its own program file: the fix changes that file, `update shop` applies it
    SupervisorApps("supervisor-two-files", 46, SUPERVISOR, SHOP_API, cli_worker=True, layout="two-files"),
    # selected by the group's name: both programs of [group:web]
    SupervisorApps("supervisor-group", 47, SUPERVISOR, SHOP_API, {"remediation_apps": ["web"]}, layout="group"),
    SystemdApps("systemd-three-units", 48, SYSTEMD,
                {"shop": (8000, "gevent"), "admin": (8002, "gevent"), "api": (8001, "gthread")}),
]}
