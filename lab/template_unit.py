"""One systemd host whose gunicorn runs as a template unit's instance, configured the way real
servers leave it, beside a running lab (a varied host's stack, its own name and address).

- `/etc/systemd/system/schoolsite@.service`, started as `schoolsite@main.service`;
- `EnvironmentFile=-/etc/default/schoolsite-%i` (optional, `-`) sets `GUNICORN_CMD_ARGS`
  (the worker class): the host's own /etc/default is a directory of its own, bind-mounted;
- `-c /srv/gunicorn/%i.conf.py`: the gunicorn config outside the app dir (/srv/app);
- no log settings: stdout and stderr go to the journal only; the app's page logs nothing;
- settings from wsgi.py's setdefault, DATABASES from dj-database-url.
"""
from __future__ import annotations

import shutil

import yaml

from lab import databases, hosts, lab, network, systemd_host, variety_hosts
from lab import inventory as lab_inventory
from lab.variety import make

INDEX = 36  # 10.77.0.235: above the varied fleets' draws, below the baked hosts (230+ are theirs)
INSTANCE = "main"
UNIT = f"schoolsite@{INSTANCE}.service"
VALUES = {"manager": "systemd", "gunicorn_home": "other-venv", "settings_from": "wsgi-setdefault",
          "worker_from": "cmd-args", "config_ref": "path", "container_path": "/srv/app", "container_code": "on-host",
          "cgroup": "engine-default", "database": "postgres", "driver": "psycopg3", "db_scope": "per-host",
          "versions": "django5.2-gunicorn27", "app": "own-url-silent", "settings_shape": "dburl", "start": "gevent"}


def spec():
    return make(INDEX, VALUES)


def unit_text(s) -> str:
    argv = variety_hosts.gunicorn_argv0(s) + ["-c", "/srv/gunicorn/%i.conf.py", "schoolsite.wsgi:application"]
    return ("[Unit]\nDescription=schoolsite gunicorn (%i)\nAfter=network.target\n\n"
            "[Service]\nType=simple\nUser=app\nGroup=app\nWorkingDirectory=/srv/app\n"
            "EnvironmentFile=-/etc/default/schoolsite-%i\n"
            f"ExecStart={variety_hosts.exec_start(argv)}\n"
            "ExecReload=/bin/kill -s HUP $MAINPID\nKillMode=mixed\nTimeoutStopSec=10\nRestart=on-failure\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def files(s) -> dict[str, str]:
    """Host-dir relative path -> text of the files beyond the varied host's app tree."""
    config = variety_hosts.gunicorn_config(s)
    return {f"{systemd_host.UNIT_DIR}/schoolsite@.service": unit_text(s),
            f"etc-default/schoolsite-{INSTANCE}": 'GUNICORN_CMD_ARGS="--worker-class gevent"\nPYTHONUNBUFFERED=1\n',
            f"srv/gunicorn/{INSTANCE}.conf.py": config}


def write(s) -> None:
    variety_hosts.write_files(s, variety_hosts.password(s))
    units = s.dir / systemd_host.UNIT_DIR
    (units / "schoolsite.service").unlink(missing_ok=True)
    (units / "multi-user.target.wants" / "schoolsite.service").unlink(missing_ok=True)
    shutil.rmtree(s.dir / "srv" / "gunicorn", ignore_errors=True)
    for rel, text in files(s).items():
        (s.dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (s.dir / rel).write_text(text)
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    if not (wants / UNIT).is_symlink():
        (wants / UNIT).symlink_to("/etc/systemd/system/schoolsite@.service")


def start(s) -> None:
    systemd_host.wait_booted(s, hosts.nsenter(s))
    hosts.exec_in(s, ["systemctl", "daemon-reload"])
    hosts.exec_in(s, ["systemctl", "restart", UNIT], timeout=60)
    variety_hosts.wait_serving(s, 90)


def create(s) -> None:
    destroy(s)
    s.dir.mkdir(parents=True)
    (s.dir / "etc-default").mkdir()
    network.create_host_network(s)
    hosts.start(s, variety_hosts.extra_mounts(s) + [(str(s.dir / "etc-default"), "/etc/default")])
    write(s)
    variety_hosts.prepare_python(s)
    pw = variety_hosts.password(s)
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    variety_hosts.migrate(s)
    lab.start_sshd(s)
    start(s)


def reset(s) -> None:
    write(s)
    start(s)


def destroy(s) -> None:
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def write_inventory(s, directory) -> str:
    """An inventory of this one host, with its own known_hosts file, in `directory`."""
    known = directory / "known_hosts"
    known.write_text(lab.host_key_line(s))
    data = {"all": {"vars": lab_inventory.fleet_vars(known), "hosts": {s.name: variety_hosts.host_vars(s)}}}
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)
