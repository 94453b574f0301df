"""A varied lab: hosts drawn from independent dimensions, so the tool meets fleets it has
never seen instead of the one it was written against.

Each dimension is a way real fleets differ (where gunicorn is installed, where
DJANGO_SETTINGS_MODULE comes from, what decides the worker class, how the config file is
named, the manager (supervisor, docker-compose, a systemd unit with or without a drop-in), the
container's paths and whether its code is mounted or baked into an image, the database and its
driver, versions, the app's
own URL and logging, and hosts that need no worker switch at all). `covering()` gives a small
set in which every value of every dimension appears on some host; `draw(seed)` gives a seeded
random fleet (the seed printed, so a failure reproduces). Both respect the constraints real
stacks impose (no psycopg 3 on Django 3.2, no eventlet on gunicorn 26+, ...).
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields, replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import ClassVar

from lab import config
from lab.config import HostSpec

ROOT = config.LAB_ROOT / "variety"
NETNS_PREFIX = "rmvar-"  # not "rmlab-": the main lab's `up` removes namespaces of its prefix it did not make
VETH_PREFIX = "rmy-"
FIRST_OCTET = 200  # on the main bridge (the DB proxy listens there), above the main fleet's addresses
MAX_HOSTS = 40

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "manager": ("supervisor", "supervisor-group", "compose", "systemd", "systemd-dropin"),
    "gunicorn_home": ("app-venv", "other-venv", "system", "image"),
    "settings_from": ("env", "wsgi-setdefault", "gunicorn-env", "settings-init"),
    "worker_from": ("config", "-k", "--worker-class=", "cmd-args", "config-env", "cli-over-config"),
    "config_ref": ("path", "python-module", "implicit", "none"),
    "container_path": ("/srv/app", "/app", "/code"),
    "container_code": ("on-host", "mounted", "baked-build", "pulled"),  # where a container's code lives
    "cgroup": ("engine-default", "custom-parent"),
    "database": ("postgres", "mariadb"),
    "driver": ("psycopg3", "psycopg2", "mysqlclient", "pymysql"),
    "db_scope": ("per-host", "shared"),
    "versions": ("django3.2-gunicorn20.1", "django4.2-gunicorn22", "django5.2-gunicorn27"),
    "app": ("incident-url-logged", "own-url-silent"),
    "settings_shape": ("dict", "split", "dburl"),
    "start": ("gevent", "eventlet", "sync", "gthread", "asgi"),
}

PG_DRIVERS, MARIADB_DRIVERS = ("psycopg3", "psycopg2"), ("mysqlclient", "pymysql")
IMAGE_VERSIONS = "django5.2-gunicorn27"  # what the compose image carries


def violations(d: dict[str, str]) -> list[str]:
    """Why a combination is not a stack that can run (empty when it can)."""
    out = []
    compose = d["manager"] == "compose"
    if compose != (d["gunicorn_home"] == "image"):
        out.append("compose hosts run the image's gunicorn, the others a venv or the system's")
    if not compose and d["container_path"] != "/srv/app":
        out.append("only containers see the code at another path")
    if compose == (d["container_code"] == "on-host"):
        out.append("a container's code is mounted or baked into an image; a host's is on the host")
    if not compose and d["cgroup"] != "engine-default":
        out.append("only containers have an engine-made cgroup")
    if compose and (d["versions"] != IMAGE_VERSIONS or d["driver"] not in ("psycopg3", "mysqlclient")
                    or d["start"] in ("eventlet", "asgi")):
        out.append("the compose image carries one stack (no eventlet, no ASGI worker)")
    if (d["database"] == "postgres") != (d["driver"] in PG_DRIVERS):
        out.append("the driver belongs to the other database")
    if d["versions"].startswith("django3.2") and d["driver"] == "psycopg3":
        out.append("Django 3.2 has no psycopg 3 backend")
    if d["start"] == "eventlet" and not d["versions"].endswith("gunicorn22"):
        out.append("eventlet: gunicorn 20.1 breaks on current eventlet, 26+ removed the worker")
    if d["config_ref"] == "none" and d["worker_from"] in ("config", "config-env", "cli-over-config"):
        out.append("without a config file the worker class comes from the command line")
    if d["settings_from"] == "settings-init" and d["settings_shape"] != "split":
        out.append("a settings package chooses its module only in the split shape")
    if d["start"] == "asgi" and d["versions"].startswith("django3.2"):
        out.append("the lab app's DB view answers 500 under Django 3.2's ASGI handler (seen on the lab)")
    if d["start"] == "asgi" and d["worker_from"] in ("config-env",):
        out.append("ASGI hosts name their worker class literally")
    return out


@dataclass(frozen=True)
class VarietySpec(HostSpec):
    """One varied host: the main lab's host interface, with every dimension drawn."""

    restart: str = "supervisor"  # "supervisor" | "compose" | "systemd" (from `manager`)
    database: str = "postgres"
    settings_shape: str = "dict"
    manager: str = "supervisor"
    gunicorn_home: str = "other-venv"
    settings_from: str = "env"
    worker_from: str = "config"
    config_ref: str = "path"
    container_path: str = "/srv/app"
    container_code: str = "on-host"
    cgroup: str = "engine-default"
    driver: str = "psycopg3"
    db_scope: str = "per-host"
    versions: str = IMAGE_VERSIONS
    app: str = "incident-url-logged"
    start: str = "gevent"

    NAME_PREFIX: ClassVar[str] = "var"
    NETNS: ClassVar[str] = NETNS_PREFIX
    VETH: ClassVar[str] = VETH_PREFIX
    ROOT: ClassVar[Path] = ROOT / "hosts"

    @property
    def address(self) -> str:
        return str(IPv4Address(f"{config.SUBNET_PREFIX}.{FIRST_OCTET}") + self.index - 1)

    @property
    def db_name(self) -> str:
        return "app_fleet" if self.db_scope == "shared" else f"app_{self.name}"

    @property
    def db_user(self) -> str:
        return "fleet" if self.db_scope == "shared" else self.name

    @property
    def draw(self) -> dict[str, str]:
        """The host's value of every dimension."""
        return {name: getattr(self, name) for name in DIMENSIONS}

    @property
    def healthy(self) -> bool:
        """Its worker needs no switch: a sync or gthread app (only its connection settings may change)."""
        return self.start in ("sync", "gthread")

    @property
    def django(self) -> tuple[int, int]:
        major, minor = self.versions.split("-")[0].removeprefix("django").split(".")
        return int(major), int(minor)


def restart_of(manager: str) -> str:
    """The lab's restart family of a manager value (supervisor-group is supervisor, ...)."""
    return manager.split("-")[0] if manager.startswith(("supervisor", "systemd")) else manager


def make(index: int, values: dict[str, str]) -> VarietySpec:
    restart = restart_of(values["manager"])
    return VarietySpec(index, restart=restart, **values)


def _complete(partial: dict[str, str], rng: random.Random) -> dict[str, str] | None:
    """Fill the dimensions `partial` leaves open with values that make a runnable stack."""
    for _ in range(400):
        d = {name: partial.get(name) or rng.choice(values) for name, values in DIMENSIONS.items()}
        if not violations(d):
            return d
    return None


def covering(seed: int = 0) -> list[VarietySpec]:
    """A small fleet in which every value of every dimension appears on some host (greedy)."""
    rng = random.Random(seed)
    wanted = {(name, value) for name, values in DIMENSIONS.items() for value in values}
    hosts: list[dict[str, str]] = []
    while wanted:
        name, value = sorted(wanted)[0]
        best, best_gain = None, -1
        for _ in range(300):  # of many completions, keep the one that covers most still-missing values
            d = _complete({name: value}, rng)
            if d is None:
                continue
            gain = sum((n, v) in wanted for n, v in d.items())
            if gain > best_gain:
                best, best_gain = d, gain
        if best is None:
            raise ValueError(f"no runnable stack has {name}={value}")
        hosts.append(best)
        wanted -= set(best.items())
    return [make(i, d) for i, d in enumerate(hosts, 1)]


def draw(seed: int, count: int = 6) -> list[VarietySpec]:
    """A seeded random fleet of runnable stacks."""
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        d = _complete({}, rng)
        if d is not None:
            out.append(make(len(out) + 1, d))
    return out


SWITCH_HOSTS = (  # what a fleet that needs the fix is mostly made of: gevent apps, some logging nothing
    {"start": "gevent", "app": "own-url-silent", "database": "postgres", "manager": "supervisor"},
    {"start": "gevent", "app": "own-url-silent", "database": "mariadb", "manager": "compose",
     "container_code": "mounted"},
    {"start": "gevent", "app": "incident-url-logged", "database": "postgres", "manager": "supervisor",
     "versions": "django4.2-gunicorn22"},
)


def switch_hosts(seed: int = 0) -> list[VarietySpec]:
    """Gevent hosts on both databases, silent and logging, their other dimensions drawn."""
    rng = random.Random(seed)
    return [make(i, _complete(partial, rng)) for i, partial in enumerate(SWITCH_HOSTS, 1)]


def fleet(profile: str) -> list[VarietySpec]:
    """`covering`, `switch` (three gevent hosts), `realfiles` (hosts made from public projects'
    deployment files, lab/realfiles_hosts.py: real1, ...), an integer seed (a random draw of 6
    hosts), joined by `+` (var hosts numbered on), e.g. `covering+realfiles+SEED`;
    `shared:PROFILE` is that fleet with one database and role per engine for every host, as a
    real fleet has; `PROFILE@var5,var7` keeps only those hosts of it (to reproduce one host of a
    run without bringing up the rest)."""
    shared = profile.startswith("shared:")
    profile, _, only = profile.partition("@")
    parts = profile.removeprefix("shared:").split("+")
    specs: list[VarietySpec] = []
    for part in parts:
        if part == "realfiles":  # numbered on their own (real1, ...): the var hosts keep their names
            from lab.realfiles_hosts import specs as real_specs

            specs += [replace(s, db_scope="shared") if shared else s for s in real_specs()]
            continue
        if part == "covering":
            drawn = covering()
        elif part == "switch":
            drawn = switch_hosts()
        else:
            try:
                drawn = draw(int(part))
            except ValueError:
                raise ValueError(f"variety profile: 'covering', 'switch', 'realfiles', an integer seed or "
                                 f"'covering+realfiles+SEED', optionally after 'shared:', not {profile!r}") from None
        numbered = sum(not getattr(s, "real", "") for s in specs)
        specs += [replace(s, index=numbered + i, db_scope="shared" if shared else s.db_scope)
                  for i, s in enumerate(drawn, 1)]
    if only:
        wanted = set(only.split(","))
        unknown = wanted - {s.name for s in specs}
        if unknown:
            raise ValueError(f"variety profile {profile!r} has no host {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in wanted]
    if len(specs) > MAX_HOSTS:
        raise ValueError(f"{len(specs)} variety hosts > {MAX_HOSTS}")
    return specs


def describe(spec: VarietySpec) -> str:
    """One line per host: its name and draw (what `lab.up --variety` prints)."""
    return f"{spec.name} ({spec.address}): " + ", ".join(f"{k}={v}" for k, v in spec.draw.items())


def as_json(spec: VarietySpec) -> dict:
    return {"name": spec.name, "address": spec.address, **{f.name: getattr(spec, f.name) for f in fields(spec)}}


def from_json(data: dict) -> VarietySpec:
    cls: type[VarietySpec] = VarietySpec
    if data.get("real"):
        from lab.realfiles import RealSpec

        cls = RealSpec
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


__all__ = ["DIMENSIONS", "VarietySpec", "covering", "draw", "fleet", "describe", "violations", "replace", "asdict"]
