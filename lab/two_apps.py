"""One supervisor host running two Django apps from ONE program file, beside a running lab (a
varied host's stack, its own name and address): issue #24's host.

- `/etc/supervisor/conf.d/schoolsite.conf` holds `[program:shop]` and `[program:api]`;
- `shop`: gunicorn `-c /srv/app/conf/shop.py` on gevent, port 8000 (the incident: to be fixed);
- `api`: `-c /srv/app/conf/api.py` on gthread (2 x 4), port 8001, already reusing connections
  (healthy: never patched nor restarted);
- one code tree and one settings module (CONN_MAX_AGE 600 with health checks): both apps use the
  same PostgreSQL database and role.
"""
from __future__ import annotations

import shlex
import shutil

import yaml

from lab import appfiles, databases, hosts, lab, network, variety_hosts
from lab import inventory as lab_inventory
from lab.variety import make

INDEX = 43  # 10.77.0.242: above the varied fleets' draws and the baked hosts (230-239)
PORTS = {"shop": 8000, "api": 8001}
VALUES = {"manager": "supervisor", "gunicorn_home": "other-venv", "settings_from": "env", "worker_from": "config",
          "config_ref": "path", "container_path": "/srv/app", "container_code": "on-host", "cgroup": "engine-default",
          "database": "postgres", "driver": "psycopg3", "db_scope": "per-host", "versions": "django5.2-gunicorn27",
          "app": "own-url-silent", "settings_shape": "dict", "start": "gevent"}
CONFIGS = {
    "shop": ('# the shop: the incident\'s gevent settings\nbind = "0.0.0.0:8000"\nworker_class = "gevent"\n'
             "workers = 2\nthreads = 16\nworker_connections = 1000\ntimeout = 30\nloglevel = \"info\"\n"),
    "api": ('# the API: already threaded (its owner\'s sizing)\nbind = "0.0.0.0:8001"\nworker_class = "gthread"\n'
            "workers = 2\nthreads = 4\nworker_connections = 1000\ntimeout = 30\nloglevel = \"info\"\n"),
}
PROGRAM_FILE = "etc-supervisor/conf.d/schoolsite.conf"


def spec():
    return make(INDEX, VALUES)


def program_file(s) -> str:
    sections = []
    for app in PORTS:
        argv = variety_hosts.gunicorn_argv0(s) + ["-c", f"/srv/app/conf/{app}.py", "schoolsite.wsgi:application"]
        section = appfiles.supervisor_program(s, shlex.join(argv), {"DJANGO_SETTINGS_MODULE": "schoolsite.settings",
                                                                    "PYTHONUNBUFFERED": "1"})
        sections.append(section.replace("[program:schoolsite]", f"[program:{app}]")
                        .replace("/var/log/supervisor/schoolsite.log", f"/var/log/supervisor/{app}.log"))
    return "\n".join(sections)


def tree(s, password: str) -> dict[str, str]:
    files = variety_hosts.app_tree(s, password)
    files.pop("conf/gunicorn_live.py", None)
    settings = files["schoolsite/settings.py"]
    assert '"CONN_MAX_AGE": 600' in settings, settings
    files["schoolsite/settings.py"] = settings.replace('"CONN_MAX_AGE": 600',
                                                      '"CONN_MAX_AGE": 600,\n        "CONN_HEALTH_CHECKS": True')
    files["conf/__init__.py"] = ""
    files.update({f"conf/{app}.py": text for app, text in CONFIGS.items()})
    return files


def app_files(app: str) -> list[str]:
    """Host-dir relative paths of an app's own files."""
    return [f"srv/app/conf/{app}.py"]


SHARED_FILES = ["srv/app/schoolsite/settings.py", PROGRAM_FILE]


def part(s, app: str) -> dict:
    """The app's own part of the shared program file: its [program:x] section."""
    import configparser

    parser = configparser.RawConfigParser()
    parser.read_string((s.dir / PROGRAM_FILE).read_text())
    return dict(parser.items(f"program:{app}"))


def write(s) -> None:
    pw = variety_hosts.password(s)
    appfiles.write_host_files(s, pw, tree=tree(s, pw), program=program_file(s))


def serving(s, app: str) -> bool:
    try:
        return lab.http_get(f"http://{s.address}:{PORTS[app]}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def wait_serving(s, timeout: float = 90) -> None:
    for app in PORTS:
        lab.wait_for(lambda app=app: serving(s, app), timeout, f"{s.name}: {app}", interval=0.2)


def master_pid(s, app: str) -> int:
    """The app's gunicorn master pid as supervisord reports it (from outside the tool)."""
    out = hosts.exec_in(s, ["supervisorctl", "-c", "/etc/supervisor/supervisord.conf", "pid", app]).stdout.strip()
    return int(out)


def create(s) -> None:
    destroy(s)
    s.dir.mkdir(parents=True)
    network.create_host_network(s)
    hosts.start(s, variety_hosts.extra_mounts(s))
    write(s)
    variety_hosts.prepare_python(s)
    pw = variety_hosts.password(s)
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    variety_hosts.migrate(s)
    lab.start_sshd(s)
    lab._start_app(s)
    wait_serving(s)


def destroy(s) -> None:
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def write_inventory(s, directory) -> str:
    """An inventory of this one host, with its own known_hosts file, in `directory`."""
    known = directory / "known_hosts"
    known.write_text(lab.host_key_line(s))
    host = {**variety_hosts.host_vars(s)}
    host.pop("remediation_supervisor_program", None)  # names a host's one program: not this one's two
    data = {"all": {"vars": lab_inventory.fleet_vars(known), "hosts": {s.name: host}}}
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)
