"""One systemd host running two apps as two instances of ONE template unit, beside a running lab
(a varied host's stack, its own name and address): issue #24's systemd host.

- `/etc/systemd/system/schoolsite@.service`, started as `schoolsite@blue.service` and
  `schoolsite@green.service` (the unit file is shared: neither fix may change it);
- `EnvironmentFile=-/etc/default/schoolsite-%i` sets each instance's `GUNICORN_CMD_ARGS`: blue
  `--worker-class gevent` (the incident: fixed), green `--worker-class gthread` (healthy: never
  patched nor restarted);
- `-c /srv/gunicorn/%i.conf.py`: blue on port 8000, green on 8001 (2 x 4);
- one code tree, one settings module (dj-database-url, CONN_MAX_AGE 600 with health checks): one
  database and role for both.
"""
from __future__ import annotations

import shutil

import yaml

from lab import databases, hosts, lab, network, systemd_host, template_unit, variety_hosts
from lab import inventory as lab_inventory
from lab.variety import make

INDEX = 44  # 10.77.0.243: beside lab/two_apps.py's host, above the baked hosts (230-239)
PORTS = {"blue": 8000, "green": 8001}
WORKERS = {"blue": ("gevent", 2, 16), "green": ("gthread", 2, 4)}
VALUES = dict(template_unit.VALUES)


def spec():
    return make(INDEX, VALUES)


def unit(app: str) -> str:
    return f"schoolsite@{app}.service"


def config(app: str) -> str:
    _cls, workers, threads = WORKERS[app]
    return (f"# gunicorn for instance {app}\nbind = \"0.0.0.0:{PORTS[app]}\"\nworkers = {workers}\n"
            f"threads = {threads}\nworker_connections = 1000\ntimeout = 30\n")


def files(s) -> dict[str, str]:
    """Host-dir relative path -> text of the files beyond the varied host's app tree."""
    out = {f"{systemd_host.UNIT_DIR}/schoolsite@.service": template_unit.unit_text(s)}
    for app, (cls, _w, _t) in WORKERS.items():
        out[f"etc-default/schoolsite-{app}"] = f'GUNICORN_CMD_ARGS="--worker-class {cls}"\nPYTHONUNBUFFERED=1\n'
        out[f"srv/gunicorn/{app}.conf.py"] = config(app)
    return out


def app_files(app: str) -> list[str]:
    return [f"etc-default/schoolsite-{app}", f"srv/gunicorn/{app}.conf.py"]


SHARED_FILES = [f"{systemd_host.UNIT_DIR}/schoolsite@.service", "srv/app/schoolsite/settings.py"]


def part(s, app: str) -> None:
    """The instances share the template unit whole (in SHARED_FILES): no part of a file is an app's."""
    return None


def write(s) -> None:
    variety_hosts.write_files(s, variety_hosts.password(s))
    settings = s.dir / "srv" / "app" / "schoolsite" / "settings.py"
    text = settings.read_text()
    assert "conn_max_age=600" in text, text
    settings.write_text(text.replace("conn_max_age=600", "conn_max_age=600, conn_health_checks=True"))
    units = s.dir / systemd_host.UNIT_DIR
    (units / "schoolsite.service").unlink(missing_ok=True)
    (units / "multi-user.target.wants" / "schoolsite.service").unlink(missing_ok=True)
    shutil.rmtree(s.dir / "srv" / "gunicorn", ignore_errors=True)
    for rel, text in files(s).items():
        (s.dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (s.dir / rel).write_text(text)
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    for app in PORTS:
        if not (wants / unit(app)).is_symlink():
            (wants / unit(app)).symlink_to("/etc/systemd/system/schoolsite@.service")


def serving(s, app: str) -> bool:
    try:
        return lab.http_get(f"http://{s.address}:{PORTS[app]}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def start(s) -> None:
    systemd_host.wait_booted(s, hosts.nsenter(s))
    hosts.exec_in(s, ["systemctl", "daemon-reload"])
    for app in PORTS:
        hosts.exec_in(s, ["systemctl", "restart", unit(app)], timeout=60)
    for app in PORTS:
        lab.wait_for(lambda app=app: serving(s, app), 90, f"{s.name}: {app}", interval=0.2)


def master_pid(s, app: str) -> int:
    """The instance's main pid as systemd reports it (from outside the tool)."""
    out = hosts.exec_in(s, ["systemctl", "show", "--property=MainPID", "--value", unit(app)]).stdout.strip()
    return int(out)


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
