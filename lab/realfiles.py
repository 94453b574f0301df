"""Real-file hosts: varied hosts whose manager files have the shape of public projects' own.

Each host is a varied host (lab/variety.py: the same Django app, stacks, databases and
judgments) whose supervisor program, systemd unit(s) and env files, or compose service with its
Dockerfile and entrypoint, are our own rewrite of one public project's deployment file: its
defaults left as found (no `stdout_logfile` where it had none, `EnvironmentFile=-`, a wrapper
script that execs gunicorn, a template unit's instance, a drop-in, `sh -c "... && gunicorn ..."`,
code COPYed to another directory), its paths adapted to the lab host (the code at /srv/app,
other files where the source kept them: /etc/default, /etc/gunicorn, /srv/<dir>), its credentials
replaced by the lab's. Every file written names its source (project, path, commit URL).

A definition (`RealHost`) names its source, the stack the source runs (worker class, settings
shape, database driver: as the source had, or as close as the lab's stacks allow), the outcome
the domain facts (/work/shared/domain.md) decide for it, and a `render` giving its files.
The host definitions themselves are in lab/realfiles_hosts.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Callable, ClassVar

from lab import config
from lab.variety import IMAGE_VERSIONS, VarietySpec, violations

FIRST_OCTET = 160  # 10.77.0.160+: below the varied draws (200+), above the main fleet
MAX_HOSTS = 36
APP_DIR = "/srv/app"
BIND = "0.0.0.0:8000"  # every source's bind, adapted: the lab's judges reach the app there

# host path prefix -> directory of the host (relative to its dir), most specific first
HOST_DIRS = (
    ("/etc/systemd/system/", "etc-systemd-system/"),
    ("/etc/supervisor/", "etc-supervisor/"),
    ("/etc/default/", "etc-default/"),
    ("/etc/gunicorn/", "etc-gunicorn/"),
    ("/etc/sysconfig/", "etc-sysconfig/"),
    ("/srv/", "srv/"),
)
MOUNTED = {"etc-default": "/etc/default", "etc-gunicorn": "/etc/gunicorn", "etc-sysconfig": "/etc/sysconfig"}  # beyond hosts.PRIVATE_DIRS

# Expected outcomes (from the domain facts, never from what the tool does today)
REMEDIATED = "remediated"  # gevent/eventlet: switched to gthread, connections reused after
KEPT = "kept"  # sync/gthread: worker settings kept; remediated (connection settings) or unchanged
REFUSED_ASGI = "refused:asgi"  # a uvicorn-style worker class is never switched
REFUSED_PULLED = "refused:pulled"  # the code only in a pulled image: its settings (no CONN_MAX_AGE) cannot be patched
EXPECTATIONS = (REMEDIATED, KEPT, REFUSED_ASGI, REFUSED_PULLED)


@dataclass(frozen=True)
class Source:
    """The public file a host's shape comes from."""

    project: str
    path: str
    url: str  # the file at a commit

    def header(self, comment: str = "#") -> str:
        return (f"{comment} lab rewrite of the shape of {self.project}'s {self.path}\n"
                f"{comment} ({self.url}): defaults as found, paths adapted, credentials replaced\n")


@dataclass(frozen=True)
class Files:
    """A real-file host's files: `app` relative to the app dir (added to, or replacing, the varied
    app tree), `host` absolute paths on the host (units, env files, configs outside the app dir)."""

    app: dict[str, str] = field(default_factory=dict)
    host: dict[str, str] = field(default_factory=dict)
    unit: str = ""  # the systemd unit (instance) that runs gunicorn
    program: str = ""  # the supervisor program ("group:name" when grouped)
    service: str = "web"  # the compose service
    env: dict[str, str] = field(default_factory=dict)  # what the app's settings need that only its manager gives
    pulled: tuple[str, str] = ("", "")  # a pulled image's tag and the app-relative recipe the lab builds it from


@dataclass(frozen=True)
class RealHost:
    key: str
    source: Source
    values: dict[str, str]  # the host's varied-lab draw (lab/variety.py DIMENSIONS)
    expect: str
    why: str  # the domain fact that decides `expect`
    render: Callable[[RealSpec, str], Files]  # (spec, DB password) -> its files
    sizing: tuple[int, int]  # workers, threads the source runs (for the reuse bound)
    # where inspect must say each value comes from: setting -> host path (or app-relative path)
    provenance: dict[str, str] = field(default_factory=dict)
    needs: str = ""  # a capability another branch is building (the host's expectation depends on it)


@dataclass(frozen=True)
class RealSpec(VarietySpec):
    """A varied host built from a real-file definition (`real` names it)."""

    real: str = ""

    NAME_PREFIX: ClassVar[str] = "real"

    @property
    def address(self) -> str:
        return str(IPv4Address(f"{config.SUBNET_PREFIX}.{FIRST_OCTET}") + self.index - 1)

    @property
    def definition(self) -> RealHost:
        from lab.realfiles_hosts import HOSTS

        return HOSTS[self.real]


def defaults(**values: str) -> dict[str, str]:
    """A full draw from the values a source decides; the rest are the lab's neutral choices."""
    base = {"manager": "supervisor", "gunicorn_home": "other-venv", "settings_from": "wsgi-setdefault",
            "worker_from": "-k", "config_ref": "none", "container_path": APP_DIR, "container_code": "on-host",
            "cgroup": "engine-default", "database": "postgres", "driver": "psycopg3", "db_scope": "per-host",
            "versions": IMAGE_VERSIONS, "app": "own-url-silent", "settings_shape": "dict", "start": "sync"}
    if values.get("manager") == "compose":
        base.update(gunicorn_home="image", container_code="baked-build")
    if values.get("database") == "mariadb":
        base["driver"] = "mysqlclient"
    return {**base, **values}


def host_path(rel_dir: Path, path: str) -> Path:
    """Where a host's absolute path lives in its directory (`rel_dir` = spec.dir)."""
    for prefix, local in HOST_DIRS:
        if path.startswith(prefix):
            return rel_dir / (local + path[len(prefix):])
    raise ValueError(f"real-file host path {path!r} is outside the host's own directories")


def check(host: RealHost) -> list[str]:
    """What is wrong with a definition (empty when it is sound)."""
    out = [f"{host.key}: {v}" for v in violations(host.values)]
    if host.expect not in EXPECTATIONS:
        out.append(f"{host.key}: unknown expectation {host.expect!r}")
    start = host.values["start"]
    decided = (REFUSED_ASGI if start == "asgi" else REFUSED_PULLED if host.values["container_code"] == "pulled"
               else REMEDIATED if start in ("gevent", "eventlet") else KEPT)
    if host.expect != decided:
        out.append(f"{host.key}: expects {host.expect} where the domain facts decide {decided} ({start})")
    if not host.source.url.startswith("https://github.com/") or "/blob/" not in host.source.url:
        out.append(f"{host.key}: the source URL names no file at a commit: {host.source.url}")
    return out
