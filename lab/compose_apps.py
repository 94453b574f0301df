"""One docker-compose host running two apps as two services of ONE compose file, beside a running
lab (a varied host's stack, its own name and address): issue #24's compose host.

- `/srv/app/docker-compose.yml` (project `app`) holds services `shop` and `api`, both from the lab's
  image with the code mounted at /srv/app, host networking;
- `shop`: `gunicorn -c /srv/app/conf/shop.py -k gevent` (the worker class on the service's own
  command line: the fix changes that service only), port 8000;
- `api`: `-c /srv/app/conf/api.py` on gthread (2 x 4), port 8001: healthy, never patched nor
  recreated;
- one settings module (CONN_MAX_AGE 600 with health checks), one database and role.
"""
from __future__ import annotations

import shlex
import shutil

import yaml

from lab import appfiles, config, databases, hosts, image, lab, network, two_apps, variety_hosts
from lab.variety import make

INDEX = 45  # 10.77.0.244: beside lab/two_apps.py's and lab/template_apps.py's hosts
PORTS = dict(two_apps.PORTS)
VALUES = {**two_apps.VALUES, "manager": "compose", "gunicorn_home": "image", "container_code": "mounted"}
COMPOSE_FILE = "srv/app/docker-compose.yml"
SHARED_FILES = ["srv/app/schoolsite/settings.py"]  # and the compose file: each service is its app's part
CONFIGS = {"shop": two_apps.CONFIGS["shop"].replace('worker_class = "gevent"\n', ""), "api": two_apps.CONFIGS["api"]}


def spec():
    return make(INDEX, VALUES)


def compose_file() -> str:
    out = ['# the shop and its API (issue #24\'s compose host)', 'version: "2.4"', "services:"]
    for app in PORTS:
        argv = ["/opt/venv/bin/gunicorn", "-c", f"/srv/app/conf/{app}.py"]
        argv += ["-k", "gevent"] if app == "shop" else []
        out += [f"  {app}:", f"    image: {config.APP_IMAGE}", "    network_mode: host", "    working_dir: /srv/app",
                "    volumes:", "      - /srv/app:/srv/app", "    environment:",
                "      DJANGO_SETTINGS_MODULE: schoolsite.settings", '      PYTHONUNBUFFERED: "1"',
                f"    command: {shlex.join(argv + ['schoolsite.wsgi:application'])}", "    restart: unless-stopped"]
    return "\n".join(out) + "\n"


def app_files(app: str) -> list[str]:
    """An app's own files: its gunicorn config; the shop's worker class is on its service's command
    line in the compose file, so the fix may change that file (in the shop's service only)."""
    return [f"srv/app/conf/{app}.py"] + ([COMPOSE_FILE] if app == "shop" else [])


def part(s, app: str) -> dict:
    """The app's own part of the shared compose file: its service, as YAML reads it."""
    return yaml.safe_load((s.dir / COMPOSE_FILE).read_text())["services"][app]


def write(s) -> None:
    pw = variety_hosts.password(s)
    files = two_apps.tree(s, pw)
    files.update({f"conf/{app}.py": text for app, text in CONFIGS.items()})
    files["docker-compose.yml"] = compose_file()
    appfiles.write_host_files(s, pw, tree=files)


def serving(s, app: str) -> bool:
    return two_apps.serving(s, app)


def container(s, app: str) -> dict:
    """The service's container as the engine reports it: id, its first process's host pid, start time."""
    ids = hosts.exec_in(s, ["docker", "ps", "-q", "--no-trunc", "--filter",
                            f"label=com.docker.compose.service={app}"]).stdout.split()
    out = hosts.exec_in(s, ["docker", "inspect", "--format", "{{.Id}} {{.State.Pid}} {{.State.StartedAt}}",
                            *ids]).stdout.split()
    return {"id": out[0], "pid": int(out[1]), "started": out[2]}


def master_pid(s, app: str) -> tuple:
    """What a restart would change, from the engine: the container id, its pid, its start time."""
    found = container(s, app)
    return found["id"], found["pid"], found["started"]


def create(s) -> None:
    destroy(s)
    image.ensure_rootfs_tar()
    s.dir.mkdir(parents=True)
    network.create_host_network(s)
    hosts.start(s, [])
    write(s)
    pw = variety_hosts.password(s)
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    variety_hosts.migrate(s)
    lab.start_sshd(s)
    lab._start_app(s)
    for app in PORTS:
        lab.wait_for(lambda app=app: serving(s, app), 120, f"{s.name}: {app}", interval=0.2)


def destroy(s) -> None:
    if s.dir.exists() and hosts.is_running(s):
        hosts.exec_in(s, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "down", "-t", "2"], check=False,
                      timeout=60)
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def write_inventory(s, directory) -> str:
    return two_apps.write_inventory(s, directory)
