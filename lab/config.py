"""Where the lab lives and what each host is: constants and the fleet layout."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar
from ipaddress import IPv4Address
from pathlib import Path

LAB_ROOT = Path(os.environ.get("REMEDIATION_LAB_ROOT", "/var/lib/remediation-lab"))
CACHE_DIR = Path(os.environ.get("REMEDIATION_LAB_CACHE", "/var/cache/remediation-lab"))

BRIDGE = "rmlab0"
NETNS_PREFIX = "rmlab-"
VETH_PREFIX = "rmv-"
SUBNET_PREFIX = "10.77.0"
BRIDGE_ADDRESS = f"{SUBNET_PREFIX}.1"
FIRST_HOST_OCTET = 10
MAX_HOSTS = 240

PG_PORT = 5432  # PostgreSQL listens on 127.0.0.1 only
MARIADB_PORT = 3306  # MariaDB listens on 127.0.0.1 only
PG_PROXY_PORT = 6432  # hosts reach PostgreSQL through the delay proxy here
MARIADB_PROXY_PORT = 3307  # and MariaDB here
DB_MAX_CONNECTIONS = 800  # one server for the varied rollout (up to 40 hosts at 2 workers x 8 threads: 640)
DEFAULT_DELAY_MS = 100  # one way; makes a PostgreSQL connect ~1.0 s and a MariaDB one ~1.3 s, as in the incident
APP_PORT = 8000
VERIFY_PATH = "/api/schools/primary/"  # the lab app's page that queries its database

LOGIN_USER = "deploy"
NO_SUDO_USER = "auditor"  # can log in, has no sudo: for the sudo-denied fault test
APP_USER = "app"
APP_IMAGE = "remediation-lab/schoolsite:1"

KEYS_DIR = LAB_ROOT / "keys"
PRIVATE_KEY = KEYS_DIR / "id_ed25519"
KNOWN_HOSTS = LAB_ROOT / "known_hosts"
SECRETS_DIR = LAB_ROOT / "secrets"
HOSTS_DIR = LAB_ROOT / "hosts"
APP_VENV = CACHE_DIR / "appvenv"  # kept across lab.down: rebuilding it costs ~10 s
DOCKER_DATA_DIR = CACHE_DIR / "docker"  # per-host engine data (the imported image)
WHEELS_DIR = CACHE_DIR / "wheels"
ROOTFS_TAR = CACHE_DIR / "schoolsite-rootfs.tar"
STATE_FILE = LAB_ROOT / "lab.json"
PROXY_CONFIG = LAB_ROOT / "proxy.json"
PROXY_PIDFILE = LAB_ROOT / "proxy.pid"
PROXY_LOG = LAB_ROOT / "proxy.log"
PG_DATA = LAB_ROOT / "postgres"
PG_LOG = LAB_ROOT / "postgres.log"
MARIADB_DATA = LAB_ROOT / "mariadb"
MARIADB_RUN = LAB_ROOT / "mariadb-run"  # owned by mysql: socket, pid file, error log
MARIADB_SOCKET = MARIADB_RUN / "mariadb.sock"
MARIADB_PIDFILE = MARIADB_RUN / "mariadb.pid"
MARIADB_LOG = MARIADB_RUN / "mariadb.log"

# Kinds cycle over the fleet so that any 4 consecutive hosts cover every pairing,
# and the settings shape varies so the tool cannot assume one layout.
HOST_KINDS = (
    ("supervisor", "postgres", "dict"),
    ("supervisor", "mariadb", "split"),
    ("compose", "postgres", "dburl"),
    ("compose", "mariadb", "dict"),
    ("supervisor", "postgres", "split"),
    ("compose", "mariadb", "dburl"),
)


@dataclass(frozen=True)
class HostSpec:
    """One lab host: its name, address and what it runs. Subclasses place hosts elsewhere by
    changing the class-level naming (prefixes, subnet, bridge, directory)."""

    index: int
    restart: str  # "supervisor" | "compose"
    database: str  # "postgres" | "mariadb"
    settings_shape: str  # "dict" | "split" | "dburl"

    NAME_PREFIX: ClassVar[str] = "lab"
    SUBNET: ClassVar[str] = SUBNET_PREFIX
    NETNS: ClassVar[str] = NETNS_PREFIX
    VETH: ClassVar[str] = VETH_PREFIX
    BRIDGE_NAME: ClassVar[str] = BRIDGE
    ROOT: ClassVar[Path] = HOSTS_DIR

    @property
    def name(self) -> str:
        return f"{self.NAME_PREFIX}{self.index}"

    @property
    def address(self) -> str:
        return str(IPv4Address(f"{self.SUBNET}.{FIRST_HOST_OCTET}") + self.index - 1)

    @property
    def netns(self) -> str:
        return self.NETNS + self.name

    @property
    def veth(self) -> str:
        return self.VETH + self.name

    @property
    def bridge(self) -> str:
        return self.BRIDGE_NAME

    @property
    def dir(self) -> Path:
        return self.ROOT / self.name

    @property
    def db_name(self) -> str:
        return f"app_{self.name}"

    @property
    def db_user(self) -> str:
        return self.name

    @property
    def db_proxy_port(self) -> int:
        return PG_PROXY_PORT if self.database == "postgres" else MARIADB_PROXY_PORT


def fleet(count: int) -> list[HostSpec]:
    """The default fleet layout for `count` hosts."""
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"the lab holds 1 to {MAX_HOSTS} hosts, not {count}")
    return [HostSpec(i, *HOST_KINDS[(i - 1) % len(HOST_KINDS)]) for i in range(1, count + 1)]
