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

from lab import app_hosts, systemd_host, variety_hosts
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


def files(s) -> dict[str, str]:
    """Host-dir relative path -> text of the files beyond the varied host's app tree."""
    unit = app_hosts.unit_text(s, "/srv/gunicorn/%i.conf.py", "schoolsite gunicorn (%i)", "/etc/default/schoolsite-%i")
    return {f"{systemd_host.UNIT_DIR}/schoolsite@.service": unit,
            f"etc-default/schoolsite-{INSTANCE}": 'GUNICORN_CMD_ARGS="--worker-class gevent"\nPYTHONUNBUFFERED=1\n',
            f"srv/gunicorn/{INSTANCE}.conf.py": variety_hosts.gunicorn_config(s)}


def write(s) -> None:
    variety_hosts.write_files(s, variety_hosts.password(s))
    app_hosts.install_units(s, files(s), {UNIT: "schoolsite@.service"})


def start(s) -> None:
    app_hosts.start_units(s, [UNIT])
    variety_hosts.wait_serving(s, 90)


def create(s) -> None:
    app_hosts.create(s, write, start, app_hosts.systemd_mounts)


def reset(s) -> None:
    write(s)
    start(s)


def destroy(s) -> None:
    app_hosts.destroy(s)


def write_inventory(s, directory) -> str:
    """An inventory of this one host, with its own known_hosts file, in `directory`."""
    return app_hosts.write_inventory({s.name: (s, variety_hosts.host_vars(s))}, directory)
