"""SSH connections to fleet hosts: Fabric over paramiko, host keys verified.

One connection per host for a whole run. An unknown or changed host key is refused
unless the caller explicitly allows adding new keys.
"""
from __future__ import annotations

import os
import threading
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


_KNOWN_HOSTS: dict[str, tuple[tuple[int, int], paramiko.HostKeys]] = {}
_KNOWN_HOSTS_LOCK = threading.Lock()


def known_host_keys(path: str) -> paramiko.HostKeys:
    """A known_hosts file, parsed once per process and again only when it changes (a fleet run
    would otherwise parse the whole file once per host); empty when the file does not exist."""
    full = os.path.expanduser(path)
    try:
        st = os.stat(full)
    except OSError:
        return paramiko.HostKeys()
    stamp = (st.st_mtime_ns, st.st_size)
    with _KNOWN_HOSTS_LOCK:
        hit = _KNOWN_HOSTS.get(full)
        if hit is None or hit[0] != stamp:
            hit = (stamp, paramiko.HostKeys(full))
            _KNOWN_HOSTS[full] = hit
        return hit[1]


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
    if accept_new_host_key:  # the client loads the files itself: a new key is saved to target.known_hosts
        client.load_system_host_keys()
        if target.known_hosts:
            client.load_host_keys(str(Path(target.known_hosts).expanduser()))
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    else:  # only this host's known keys, from files parsed once per process (not once per host)
        name = target.address if target.port == 22 else f"[{target.address}]:{target.port}"
        for path in ("~/.ssh/known_hosts", target.known_hosts):
            for keytype, key in (known_host_keys(path).lookup(name) or {}).items() if path else ():
                client.get_host_keys().add(name, keytype, key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    conn.open()
    return conn
