"""SSH connections to fleet hosts: Fabric over paramiko, host keys verified.

One connection per host for a whole run. An unknown or changed host key is refused
unless the caller explicitly allows adding new keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko
from fabric import Connection


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to one host (from the inventory)."""

    name: str
    address: str
    port: int = 22
    user: str = "deploy"
    key_file: str | None = None
    known_hosts: str | None = None


def connect(target: SshTarget, *, accept_new_host_key: bool = False, timeout: float = 10) -> Connection:
    """An open Fabric connection; raises paramiko.SSHException on an unknown or changed key."""
    conn = Connection(
        host=target.address, port=target.port, user=target.user,
        connect_timeout=timeout,
        connect_kwargs={"key_filename": [str(Path(target.key_file).expanduser())] if target.key_file else None,
                        "look_for_keys": target.key_file is None, "allow_agent": False,
                        "banner_timeout": timeout, "auth_timeout": timeout},
    )
    client = conn.client
    client.load_system_host_keys()
    if target.known_hosts:
        client.load_host_keys(str(Path(target.known_hosts).expanduser()))
    client.set_missing_host_key_policy(
        paramiko.AutoAddPolicy() if accept_new_host_key else paramiko.RejectPolicy())
    conn.open()
    return conn
