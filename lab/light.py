"""Light lab hosts for fleet-scale benchmarks: sshd, supervisor and a tiny gunicorn app.

Each light host is a real host as the tool sees it (its own network, pid and mount
namespaces, sshd with host-key checking, supervisord running gunicorn with the
incident's gevent config, a Django settings package on disk), but the app it serves is
a one-function WSGI module, so a hundred of them fit on a small machine. They live on
their own bridge and namespace prefix, apart from the full lab, and have no database.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml

from lab.inventory import fleet_vars
from lab import appfiles

from lab import config

from lab import hosts

from lab import image

from lab import lab

from lab import network
from lab.config import HostSpec
from lab.sh import LabError, run

BRIDGE = "rmlight0"
BRIDGE_ADDRESS = "10.78.0.1"
SUBNET_PREFIX = "10.78.0"
NETNS_PREFIX = "rmlight-"
VETH_PREFIX = "rmw-"
MAX_HOSTS = 200
ROOT = config.LAB_ROOT / "light"
KNOWN_HOSTS = ROOT / "known_hosts"
STATE_FILE = ROOT / "light.json"
INVENTORY_PATH = ROOT / "inventory.yml"  # not under inventory/: that directory is the default inventory
HEADER = "# Written by `invoke lab.light`: light benchmark hosts, in Ansible's YAML inventory format.\n"

TINY_APP = '''\
"""A one-function WSGI app: what the light hosts serve instead of the Django project."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\\n"]
'''

LIGHT_GUNICORN_CONF = '''\
# gunicorn configuration (the incident's worker settings, one worker: a light host)
bind = "0.0.0.0:8000"
worker_class = 'gevent'
workers = 1
worker_connections = 1000
timeout = 30
loglevel = "info"
'''


@dataclass(frozen=True)
class LightSpec(HostSpec):
    """A light host: a lab host's interface, on its own names, subnet and bridge."""

    restart: str = "supervisor"
    database: str = "postgres"
    settings_shape: str = "dict"

    NAME_PREFIX: ClassVar[str] = "light"
    SUBNET: ClassVar[str] = SUBNET_PREFIX
    NETNS: ClassVar[str] = NETNS_PREFIX
    VETH: ClassVar[str] = VETH_PREFIX
    BRIDGE_NAME: ClassVar[str] = BRIDGE
    ROOT: ClassVar[Path] = ROOT / "hosts"


def light_fleet(count: int) -> list[LightSpec]:
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"light hosts: 1 to {MAX_HOSTS}, not {count}")
    return [LightSpec(i) for i in range(1, count + 1)]


def write_files(spec: LightSpec) -> None:
    """The schoolsite tree (settings included, never imported), the tiny app, supervisor config."""
    appfiles.write_host_files(spec, "light-host-has-no-database")
    app_dir = spec.dir / "srv" / "app"
    # one release on every light host, as in a real fleet: settings identical across hosts
    for rel, text in appfiles.app_tree(LightSpec(0), "light-host-has-no-database").items():
        if rel.startswith("schoolsite/settings"):
            (app_dir / rel).write_text(text)
    (app_dir / "tinyapp.py").write_text(TINY_APP)
    (app_dir / "gunicorn.conf.py").write_text(LIGHT_GUNICORN_CONF)
    program = spec.dir / "etc-supervisor" / "conf.d" / "schoolsite.conf"
    program.write_text(program.read_text().replace("schoolsite.wsgi:application", "tinyapp:application"))


def _serving(spec: LightSpec) -> bool:
    try:
        return lab.http_get(f"http://{spec.address}:{config.APP_PORT}/", timeout=2)[0] == 200
    except OSError:
        return False


def host_ok(spec: LightSpec) -> bool:
    return lab.host_ok(spec, serving=_serving)


def create_host(spec: LightSpec) -> None:
    destroy_host(spec.netns)
    lab.fresh_namespaces(spec)
    write_files(spec)
    lab.start_sshd(spec)
    hosts.exec_in(spec, ["supervisord", "-c", "/etc/supervisor/supervisord.conf"])
    lab.wait_for(lambda: _serving(spec), 60, f"{spec.name}: tiny app", interval=0.2)


def destroy_host(netns: str) -> None:
    lab.destroy_family_host(netns, NETNS_PREFIX, VETH_PREFIX, ROOT / "hosts")


def inventory(specs: list[LightSpec]) -> dict:
    members = {s.name: {"ansible_host": s.address, "remediation_app_dir": "/srv/app",
                        "remediation_supervisor_program": "schoolsite"} for s in specs}
    return {"all": {
        "vars": fleet_vars(KNOWN_HOSTS),
        "children": {"light": {"hosts": members}},
    }}


def up(count: int, say=print) -> dict:
    """Bring `count` light hosts up (keeping healthy ones, removing extra ones)."""
    specs = light_fleet(count)
    lab.check_prerequisites([])
    started = time.monotonic()
    ROOT.mkdir(parents=True, exist_ok=True)
    (ROOT / "hosts").mkdir(exist_ok=True)
    config.LAB_ROOT.chmod(0o755)
    ROOT.chmod(0o755)
    image.ensure_app_venv()
    lab.ensure_users()
    lab.ensure_login_key()
    network.ensure_bridge(BRIDGE, BRIDGE_ADDRESS)
    present = set(network.namespaces(NETNS_PREFIX))
    wanted = {s.netns for s in specs}
    for extra in sorted(present - wanted):
        destroy_host(extra)
        shutil.rmtree(ROOT / "hosts" / extra.removeprefix(NETNS_PREFIX), ignore_errors=True)
    healthy = [s for s in specs if s.netns in present and host_ok(s)]
    todo = [s for s in specs if s not in healthy]
    for spec in healthy:  # files as this version writes them (the tiny app never imports them)
        write_files(spec)
    failures = {n: e for n, e in lab.parallel(create_host, todo).items() if e is not None}
    KNOWN_HOSTS.write_text("".join(lab.host_key_line(s) for s in specs if s.name not in failures))
    tmp = INVENTORY_PATH.with_suffix(".tmp")
    tmp.write_text(HEADER + yaml.safe_dump(inventory(specs), sort_keys=False))
    tmp.replace(INVENTORY_PATH)
    STATE_FILE.write_text(json.dumps({"hosts": count}))
    if failures:
        raise LabError("; ".join(f"{name}: {exc}" for name, exc in failures.items()))
    return {"started": len(todo), "kept": len(healthy), "seconds": round(time.monotonic() - started, 1)}


def down() -> int:
    """Remove every light host, its links and the light bridge."""
    names = set(network.namespaces(NETNS_PREFIX))
    if (ROOT / "hosts").exists():
        names |= {NETNS_PREFIX + d.name for d in (ROOT / "hosts").iterdir() if d.is_dir()}
    for netns in names:
        destroy_host(netns)
    for veth in network.stale_veths(VETH_PREFIX):
        run(["ip", "link", "del", veth], check=False)
    network.remove_bridge(BRIDGE)
    shutil.rmtree(ROOT, ignore_errors=True)
    INVENTORY_PATH.unlink(missing_ok=True)
    return len(names)


def current() -> list[LightSpec]:
    try:
        return light_fleet(json.loads(STATE_FILE.read_text())["hosts"])
    except (FileNotFoundError, ValueError, KeyError):
        raise LabError("no light hosts are up (run `invoke lab.light --hosts N`)") from None

