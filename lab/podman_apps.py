"""One podman host running two apps as two podman containers, beside a running lab (a varied host's
stack, its own name and address): issue #22's podman host.

Debian's podman (4.3: no quadlet) runs each app the plain way, `podman run -d --restart=always`,
from the lab's rootfs image (lab/image.py, imported into the host's own container storage),
host networking, the code mounted from the host's /srv/app at /app in the container (so every
path the tool reads is mapped through the container's mounts):
- `shop`: `gunicorn -c /app/conf/shop.py` on gevent (in its config file), port 8000;
- `api`: `-c /app/conf/api.py` on gthread (2 x 4), port 8001: healthy, never patched nor restarted.
The machine has no CAP_SYS_RESOURCE: podman's default ulimits (raised to the hard limit) fail, so
each container gets explicit `--ulimit`s (measured: nofile 1024, nproc 4096 run).
"""
from __future__ import annotations

import os
import shutil

import yaml

from lab import config, databases, hosts, image, lab, network, two_apps, variety_hosts
from lab import inventory as lab_inventory
from lab.appfiles import write_host_files
from lab.sh import run
from lab.variety import make

INDEX = 48  # 10.77.0.247: beside lab/compose_project_dir.py's host
PORTS = dict(two_apps.PORTS)
VALUES = {**two_apps.VALUES, "manager": "podman", "gunicorn_home": "image", "container_code": "mounted",
          "container_path": "/app"}
SHARED_FILES = ["srv/app/schoolsite/settings.py"]
STORAGE = config.CACHE_DIR / "podman"  # per-host container storage (the imported image survives the host)
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def spec():
    return make(INDEX, VALUES)


def run_argv(app: str) -> list[str]:
    """The `podman run` that starts an app's container."""
    return ["podman", "run", "-d", "--name", app, "--restart=always", "--network", "host", *ULIMITS,
            "-v", "/srv/app:/app", "-w", "/app", "-e", "DJANGO_SETTINGS_MODULE=schoolsite.settings",
            "-e", "PYTHONUNBUFFERED=1", config.APP_IMAGE,
            "/opt/venv/bin/gunicorn", "-c", f"/app/conf/{app}.py", "schoolsite.wsgi:application"]


def app_files(app: str) -> list[str]:
    return [f"srv/app/conf/{app}.py"]


def part(s, app: str) -> dict:
    """The app's own part of the host's manager config: its container as podman created it."""
    return {"create": hosts.exec_in(s, ["podman", "inspect", "--format", "{{.Config.CreateCommand}}", app]).stdout}


def serving(s, app: str) -> bool:
    return two_apps.serving(s, app)


def master_pid(s, app: str) -> tuple:
    """What a restart would change, from podman: the container id, its first pid, its start time."""
    out = hosts.exec_in(s, ["podman", "inspect", "--format", "{{.Id}} {{.State.Pid}} {{.State.StartedAt}}",
                            app]).stdout.split()
    return out[0], int(out[1]), " ".join(out[2:])


def storage_mount(s) -> tuple[str, str]:
    (STORAGE / s.name).mkdir(parents=True, exist_ok=True)
    return str(STORAGE / s.name), "/var/lib/containers"


def start_containers(s) -> None:
    hosts.exec_in(s, ["podman", "rm", "-a", "-f", "-t", "0"], timeout=120)  # left by an earlier run
    if hosts.exec_in(s, ["podman", "image", "exists", config.APP_IMAGE], check=False).returncode != 0:
        hosts.exec_in(s, ["podman", "import", "--change",
                          "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          str(config.ROOTFS_TAR), config.APP_IMAGE], timeout=300)
    for app in PORTS:
        hosts.exec_in(s, run_argv(app), timeout=120)


def create(s) -> None:
    destroy(s)
    image.ensure_rootfs_tar()
    s.dir.mkdir(parents=True)
    network.create_host_network(s)
    hosts.start(s, [storage_mount(s)])
    pw = variety_hosts.password(s)
    write_host_files(s, pw, tree=two_apps.tree(s, pw))
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    run([config.APP_VENV / "bin" / "python", "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=s.dir / "srv" / "app", env={**os.environ, "DJANGO_SETTINGS_MODULE": "schoolsite.settings"}, timeout=300)
    lab.start_sshd(s)
    start_containers(s)
    for app in PORTS:
        lab.wait_for(lambda app=app: serving(s, app), 120, f"{s.name}: {app}", interval=0.2)


def destroy(s) -> None:
    if s.dir.exists() and hosts.is_running(s):
        hosts.exec_in(s, ["podman", "rm", "-a", "-f", "-t", "2"], check=False, timeout=120)
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def write_inventory(s, directory) -> str:
    """This one host, applying changes by the manager's restart (the podman manager under test)."""
    known = directory / "known_hosts"
    known.write_text(lab.host_key_line(s))
    host = {**variety_hosts.host_vars(s), "remediation_restart": "manager"}  # podman's restart, not a HUP
    data = {"all": {"vars": lab_inventory.fleet_vars(known), "hosts": {s.name: host}}}
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)
