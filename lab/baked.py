"""A few hosts whose containers run baked images (built on the host, or pulled), beside a running
lab and under their own names (namespaces rmimg-*, addresses 10.77.0.230-239, databases and roles
rmimg_*), so they can be made and removed without touching the main or the varied fleet.

Each host is a varied host (lab/variety_hosts.py renders it) with a fixed draw: a compose
service whose code is baked (`container_code`), gevent by default, on PostgreSQL.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import ClassVar

import yaml

from lab import config, databases, hosts, image, lab, network, variety_hosts
from lab import inventory as lab_inventory
from lab.variety import VarietySpec

NETNS_PREFIX, VETH_PREFIX = "rmimg-", "rmimgv-"
ROOT = config.LAB_ROOT / "rmimg"
FIRST_OCTET = 230
MAX_HOSTS = 10
INVENTORY_PATH = ROOT / "inventory.yml"
KNOWN_HOSTS = ROOT / "known_hosts"


@dataclass(frozen=True)
class BakedSpec(VarietySpec):
    NAME_PREFIX: ClassVar[str] = "img"
    NETNS: ClassVar[str] = NETNS_PREFIX
    VETH: ClassVar[str] = VETH_PREFIX
    ROOT: ClassVar[Path] = ROOT / "hosts"

    @property
    def address(self) -> str:
        if not 1 <= self.index <= MAX_HOSTS:
            raise ValueError(f"baked hosts are numbered 1 to {MAX_HOSTS}")
        return str(IPv4Address(f"{config.SUBNET_PREFIX}.{FIRST_OCTET}") + self.index - 1)

    @property
    def db_name(self) -> str:
        return f"rmimg_{self.name}"

    @property
    def db_user(self) -> str:
        return f"rmimg_{self.name}"


def spec(index: int, container_code: str, **values) -> BakedSpec:
    draw = dict(manager="compose", restart="compose", gunicorn_home="image", settings_from="env",
                worker_from="config", config_ref="path", container_path="/app", container_code=container_code,
                cgroup="engine-default", database="postgres", driver="psycopg3", db_scope="per-host",
                versions="django5.2-gunicorn27", app="incident-url-logged", settings_shape="dict", start="gevent")
    return BakedSpec(index, **{**draw, **values})


def destroy(spec: BakedSpec) -> None:
    if hosts.is_running(spec):
        hosts.exec_in(spec, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "down", "-t", "2"],
                      check=False, timeout=60)
    lab.destroy_family_host(spec.netns, NETNS_PREFIX, VETH_PREFIX, ROOT / "hosts")
    shutil.rmtree(spec.dir, ignore_errors=True)
    shutil.rmtree(config.DOCKER_DATA_DIR / spec.name, ignore_errors=True)


def create(spec: BakedSpec) -> None:
    """The host, its app serving (the lab must be up: bridge, databases, proxy)."""
    destroy(spec)
    image.ensure_rootfs_tar()
    spec.dir.mkdir(parents=True)
    network.create_host_network(spec)
    hosts.start(spec)
    pw = variety_hosts.password(spec, ROOT / "secrets")  # this family's passwords, not the varied fleet's
    variety_hosts.write_files(spec, pw)
    databases.ensure_host_database(spec.database, spec.db_name, spec.db_user, pw)
    variety_hosts.migrate(spec)
    lab.start_sshd(spec)
    lab._start_app(spec, before_up=variety_hosts.build_image)
    variety_hosts.wait_serving(spec)


def write_inventory(specs: list[BakedSpec]) -> Path:
    ROOT.mkdir(parents=True, exist_ok=True)
    KNOWN_HOSTS.write_text("".join(lab.host_key_line(s) for s in specs))
    data = {"all": {"vars": lab_inventory.fleet_vars(KNOWN_HOSTS),
                    "hosts": {s.name: lab_inventory.host_vars(s) for s in specs}}}
    INVENTORY_PATH.write_text(yaml.safe_dump(data, sort_keys=False))
    return INVENTORY_PATH


def image_id(spec: BakedSpec) -> str | None:
    """The image id the host's web container runs (the engine's own answer)."""
    ids = hosts.exec_in(spec, ["docker", "ps", "-q", "--filter", "label=com.docker.compose.service=web"]).stdout.split()
    if not ids:
        return None
    return hosts.exec_in(spec, ["docker", "inspect", "--format", "{{.Image}}", ids[0]]).stdout.strip()


def worker_processes(spec: BakedSpec) -> str:
    """`ps` inside the web container."""
    ids = hosts.exec_in(spec, ["docker", "ps", "-q", "--filter", "label=com.docker.compose.service=web"]).stdout.split()
    return hosts.exec_in(spec, ["docker", "exec", ids[0], "ps", "-eo", "pid,nlwp,args"]).stdout


__all__ = ["BakedSpec", "spec", "create", "destroy", "write_inventory", "image_id", "worker_processes", "replace"]
