"""A compose service's `build:` section and where the container's code lives (pure, no I/O).

The code's place is decided from the engine's own view: a bind mount (`docker inspect` Mounts)
that covers the working directory means mounted; otherwise the compose file's `build:` section
for the service (named by the container's com.docker.compose.service label) means baked from a
build context on the host; neither means a pulled image the host holds no source of.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import yaml

MOUNTED, BAKED_BUILD, PULLED = "mounted", "baked-build", "pulled"


@dataclass(frozen=True)
class Build:
    context: str  # host path of the build context
    dockerfile: str  # host path of the Dockerfile
    target: str | None = None
    args: dict = field(default_factory=dict)
    image: str | None = None  # the service's `image:` (the built image's name), if any


def service(compose_text: str, name: str) -> dict | None:
    try:
        data = yaml.safe_load(compose_text)
    except yaml.YAMLError:
        return None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):  # compose file format 1: services at the top level
        services = data if isinstance(data, dict) else {}
    found = services.get(name)
    return found if isinstance(found, dict) else None


def build_of(compose_text: str, name: str, compose_dir: str) -> Build | None:
    """The service's build section, its paths resolved as compose does (relative to the compose
    file's directory; `dockerfile` relative to the context); None when it has none."""
    svc = service(compose_text, name)
    if not svc or "build" not in svc or svc["build"] is None:
        return None
    raw = svc["build"]
    spec: dict[str, Any] = {"context": raw} if isinstance(raw, str) else dict(raw) if isinstance(raw, dict) else {}
    context = posixpath.normpath(posixpath.join(compose_dir, str(spec.get("context") or ".")))
    dockerfile = posixpath.normpath(posixpath.join(context, str(spec.get("dockerfile") or "Dockerfile")))
    args = spec.get("args") or {}
    if isinstance(args, list):
        args = {name: value if sep else None for name, sep, value in (str(a).partition("=") for a in args)}
    image = svc.get("image")
    return Build(context, dockerfile, spec.get("target"), dict(args), str(image) if image else None)


def covered_by_mount(mounts, path: str | None) -> bool:
    """Whether a bind mount (or volume) of the container covers `path` (a container path)."""
    if not path:
        return False
    for mount in mounts:
        dest = mount.destination.rstrip("/") or "/"
        if path == dest or path.startswith(dest.rstrip("/") + "/"):
            return True
    return False


def code_place(mounts, cwd: str | None, build: Build | None) -> str:
    if covered_by_mount(mounts, cwd):
        return MOUNTED
    return BAKED_BUILD if build is not None else PULLED
