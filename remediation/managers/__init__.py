"""Restart managers as units behind one interface (managers/base.py).

REGISTRY is the detection order: the first manager that recognises the probed master runs it.
A new manager is a package here (its controller side and its host-side `probe.py`) plus one
line in REGISTRY: the agent payload bundles the probe of every manager registered here.
"""
from __future__ import annotations

from remediation.managers.base import Manager, Unmanaged
from remediation.managers.compose import Compose, PlainDocker
from remediation.managers.podman import Podman
from remediation.managers.supervisor import Supervisor
from remediation.managers.systemd import Systemd
from remediation.model import RestartMethod

REGISTRY: tuple[Manager, ...] = (
    Podman(),
    Compose(),
    PlainDocker(),
    Supervisor(),
    Systemd(),
    Unmanaged(),
)
BY_KIND = {manager.KIND: manager for manager in REGISTRY}


def detect(master: dict, compose_clis: dict[str, str]) -> RestartMethod:
    """The restart method of an agent-probed master: the first manager that recognises it
    (REGISTRY ends with Unmanaged, which recognises every master)."""
    return next(m for m in (manager.detect(master, compose_clis) for manager in REGISTRY) if m is not None)


def of(method: RestartMethod) -> Manager:
    """The manager that restarts `method`."""
    return BY_KIND.get(method.kind, BY_KIND["unknown"])
