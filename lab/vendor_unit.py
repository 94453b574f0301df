"""One systemd host whose gunicorn runs from a vendor unit (as a package installs it under
/lib/systemd/system) that sets none of the variables the fix needs, beside a running lab:

- `/lib/systemd/system/schoolsite.service` (the host's own copy of the machine's unit dir,
  bind-mounted over it: the machine's files are never touched); nothing under /etc/systemd;
- `DB_CONN_MAX_AGE=0` reaches the process from systemd's manager environment
  (`systemctl set-environment`, as a provisioning script leaves it): no file on the host sets it;
- the settings module `schoolsite_local` lives outside the app dir, in /srv/site-config, on the
  unit's PYTHONPATH: the base settings, then the site's DATABASES, whose CONN_MAX_AGE comes from
  $DB_CONN_MAX_AGE, with no CONN_HEALTH_CHECKS;
- the worker class in the app's gunicorn config (-c /srv/app/conf/gunicorn_live.py); journal-only
  logging, the app's page logs nothing.
"""
from __future__ import annotations

import shutil

from lab import appfiles, databases, hosts, lab, network, systemd_host, variety_hosts
from lab.variety import make

INDEX = 46  # 10.77.0.245: beside lab/compose_apps.py's host (.244)
UNIT = "schoolsite.service"
VENDOR_DIR = "usr-lib-systemd-system"  # host dir name, mounted at /usr/lib/systemd/system (/lib is /usr/lib)
SITE_DIR = "srv/site-config"  # host-dir relative: /srv/site-config inside the host
SETTINGS = "schoolsite_local"
VALUES = {"manager": "systemd", "gunicorn_home": "other-venv", "settings_from": "env", "worker_from": "config",
          "config_ref": "path", "container_path": "/srv/app", "container_code": "on-host", "cgroup": "engine-default",
          "database": "postgres", "driver": "psycopg3", "db_scope": "per-host", "versions": "django5.2-gunicorn27",
          "app": "own-url-silent", "settings_shape": "split", "start": "gevent"}


def spec():
    return make(INDEX, VALUES)


def unit_text(s) -> str:
    env = {"PYTHONUNBUFFERED": "1", "PYTHONPATH": "/srv/site-config", "DJANGO_SETTINGS_MODULE": SETTINGS}
    return ("# schoolsite: gunicorn for the Django app, as its package installs it\n"
            "[Unit]\nDescription=schoolsite gunicorn daemon\nAfter=network.target\n\n"
            "[Service]\nType=simple\nUser=app\nGroup=app\nWorkingDirectory=/srv/app\n"
            + variety_hosts.environment_lines(env)
            + f"ExecStart={variety_hosts.exec_start(variety_hosts.command(s))}\n"
            "ExecReload=/bin/kill -s HUP $MAINPID\nKillMode=mixed\nTimeoutStopSec=10\nRestart=on-failure\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def site_settings(s, password: str) -> str:
    """The site's settings module: the code's base settings, then this site's database (its
    credentials are why it lives outside the code), CONN_MAX_AGE from $DB_CONN_MAX_AGE."""
    age = '"CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", 0))'
    return ('"""The settings of this site, kept outside the code (PYTHONPATH=/srv/site-config in the unit)."""\n'
            "import os\n\nfrom schoolsite.settings.base import *  # noqa: F401,F403\n\nDEBUG = False\n\n"
            + appfiles._db_dict(s, password, age))


def files(s) -> dict[str, str]:
    """Host-dir relative path -> text of the files beyond the varied host's app tree."""
    return {f"{VENDOR_DIR}/{UNIT}": unit_text(s),
            f"{SITE_DIR}/{SETTINGS}.py": site_settings(s, variety_hosts.password(s))}


def write(s) -> None:
    variety_hosts.write_files(s, variety_hosts.password(s))
    units = s.dir / systemd_host.UNIT_DIR
    (units / UNIT).unlink(missing_ok=True)  # the varied host's own unit: this host has only the vendor's
    (units / "multi-user.target.wants" / UNIT).unlink(missing_ok=True)
    shutil.rmtree(units / f"{UNIT}.d", ignore_errors=True)
    for rel, text in files(s).items():
        (s.dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (s.dir / rel).write_text(text)


def start(s) -> None:
    systemd_host.wait_booted(s, hosts.nsenter(s))
    hosts.exec_in(s, ["systemctl", "set-environment", "DB_CONN_MAX_AGE=0"])
    hosts.exec_in(s, ["systemctl", "daemon-reload"])
    hosts.exec_in(s, ["systemctl", "restart", UNIT], timeout=60)
    variety_hosts.wait_serving(s, 90)


def create(s) -> None:
    destroy(s)
    s.dir.mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", s.dir / VENDOR_DIR, symlinks=True)
    network.create_host_network(s)
    hosts.start(s, variety_hosts.extra_mounts(s) + [(str(s.dir / VENDOR_DIR), "/usr/lib/systemd/system")])
    write(s)
    variety_hosts.prepare_python(s)
    pw = variety_hosts.password(s)
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    variety_hosts.migrate(s)
    lab.start_sshd(s)
    start(s)


def destroy(s) -> None:
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def systemctl_show(s) -> dict[str, str]:
    """systemd's own view of the unit's environment and drop-ins (the oracle)."""
    out = hosts.exec_in(s, ["systemctl", "show", "-p", "Environment,DropInPaths,FragmentPath", UNIT]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
