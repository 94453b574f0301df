"""SSH connections to fleet hosts, as OpenSSH makes them: ~/.ssh/config, ProxyJump, the agent,
default keys, every hop's host key verified against the user's and the system's known_hosts.

One connection per host for a whole run. An unknown key is refused unless the caller (or
StrictHostKeyChecking accept-new/no) allows adding it, which appends one line to the user's
known_hosts; a changed or @revoked key is always refused, on a bastion as on the target."""
from __future__ import annotations

import getpass
import os
import socket
import sys
import threading
from dataclasses import dataclass

import paramiko
from fabric import Config, Connection

from remediation.errors import InputError
from remediation.transport import knownhosts, sshconfig
from remediation.transport.sshconfig import Hop


@dataclass(frozen=True)
class SshTarget:
    """What the inventory says about logging in to one host; None: ~/.ssh/config or OpenSSH's default."""

    name: str
    address: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    ssh_args: str = ""
    host_key_checking: bool | None = None
    ssh_config: str | None = None


class UnknownHostKey(paramiko.SSHException):
    """No known_hosts line for the host (message says where to add it)."""


class ChangedHostKey(paramiko.BadHostKeyException):
    def __init__(self, message: str, hostname: str, got: paramiko.PKey, expected: paramiko.PKey):
        super().__init__(hostname, got, expected)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RevokedHostKey(paramiko.SSHException):
    pass


class JumpHostError(paramiko.SSHException):
    """A jump host could not reach the next hop, or a hop behind it failed."""


class KeyNeedsPassphrase(paramiko.SSHException):
    pass


# failures whose own message names the hop and the fix: not wrapped again as "jump host X: ..."
NAMED_FAILURES = (UnknownHostKey, ChangedHostKey, RevokedHostKey, KeyNeedsPassphrase, JumpHostError)

WARNINGS: list[str] = []  # known_hosts warnings of this process, for the CLI to show once


def hops_for(target: SshTarget, accept_new_host_key: bool = False) -> list[Hop]:
    where = f"host {target.name}"
    args = sshconfig.parse_args(target.ssh_args, where)
    strict = "accept-new" if accept_new_host_key or target.host_key_checking is False else None
    return sshconfig.resolve(sshconfig.load_config(target.ssh_config), target.address, user=target.user,
                             port=target.port, key_file=target.key_file, extra_known_hosts=target.known_hosts,
                             args=args, strict=strict, where=where)


class _Verify(paramiko.MissingHostKeyPolicy):
    """Called for every hop (the client holds no keys itself): the whole check is here."""

    def __init__(self, hop: Hop):
        self.hop = hop

    def missing_host_key(self, client, hostname, key):
        hop = self.hop
        files = list(hop.known_hosts)
        WARNINGS.extend(knownhosts.take_warnings(files))
        revoked = knownhosts.is_revoked(files, key)
        if revoked:
            raise RevokedHostKey(f"host key of {hop.label} ({hop.host_key_name}) is REVOKED "
                                 f"({revoked.path}:{revoked.line}); refusing to connect")
        known = knownhosts.known_keys(files, hop.host_key_name)
        if any(e.blob == key.asbytes() for e in known):
            return
        same_type = [e for e in known if e.keytype == key.get_name()]
        if same_type or known:
            e = (same_type or known)[0]
            raise ChangedHostKey(f"host key for {hop.host_key_name} CHANGED (possible man-in-the-middle; "
                                 f"known at {e.path}:{e.line}); refusing to connect", hop.host_key_name, key, key)
        if hop.strict == "accept-new":
            knownhosts.append(hop.add_to, hop.host_key_name, key, hop.hash_new)
            return
        raise UnknownHostKey(f"host key of {hop.label} ({hop.host_key_name}) is unknown: not found in known_hosts "
                             f"({', '.join(files) or 'none'}); add it, or pass --accept-new-host-key")


def _disabled_key_types(hop: Hop) -> list[str]:
    """Ask only for the host key types known for this host (as OpenSSH prefers them)."""
    known = {e.keytype for e in knownhosts.known_keys(list(hop.known_hosts), hop.host_key_name)}
    if not known:
        return []
    if "ssh-rsa" in known:
        known |= {"rsa-sha2-512", "rsa-sha2-256"}
    offered = [t for t in paramiko.Transport._preferred_keys if t in known]
    return [t for t in paramiko.Transport._preferred_keys if t not in known] if offered else []


_PASSPHRASES: dict[str, str] = {}
_PROMPT_LOCK = threading.Lock()


def _passphrase(path: str) -> str | None:
    """Ask once per key file per run, on a terminal only."""
    with _PROMPT_LOCK:
        if path in _PASSPHRASES:
            return _PASSPHRASES[path]
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            return None
        try:
            value = getpass.getpass(f"passphrase for {path}: ")
        except (EOFError, KeyboardInterrupt):
            return None
        _PASSPHRASES[path] = value
        return value


def _connect_hop(hop: Hop, make_sock, timeout: float) -> paramiko.SSHClient:
    """Log in to one hop over a fresh socket from `make_sock` (a retry with a passphrase needs another)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_Verify(hop))
    kwargs = dict(hostname=hop.hostname, port=hop.port, username=hop.user, timeout=timeout,
                  banner_timeout=timeout, auth_timeout=timeout, allow_agent=True,
                  look_for_keys=hop.look_for_keys, key_filename=list(hop.key_files) or None,
                  disabled_algorithms={"keys": _disabled_key_types(hop)})
    for key in hop.key_files:
        if not os.path.exists(key):
            raise InputError(f"identity file not found for {hop.label}", key)
    try:
        client.connect(**kwargs, sock=make_sock())
        return client
    except paramiko.PasswordRequiredException:
        client.close()
    except BaseException:
        client.close()
        raise
    encrypted = [k for k in hop.key_files if _is_encrypted(k)]
    for key in encrypted:
        phrase = _passphrase(key)
        if phrase is None:
            raise KeyNeedsPassphrase(f"key {key} is encrypted and not in the ssh-agent: run `ssh-add {key}`, "
                                     "or run on a terminal to be asked its passphrase")
        retry = paramiko.SSHClient()
        retry.set_missing_host_key_policy(_Verify(hop))
        try:
            retry.connect(**{**kwargs, "passphrase": phrase, "allow_agent": False}, sock=make_sock())
            return retry
        except paramiko.SSHException:
            retry.close()
            with _PROMPT_LOCK:
                _PASSPHRASES.pop(key, None)
            raise
    raise KeyNeedsPassphrase(f"{hop.label}: an encrypted key needs its passphrase: add it to the ssh-agent "
                             "(ssh-add) or run on a terminal")


def _is_encrypted(path: str) -> bool:
    try:
        paramiko.PKey.from_path(path)
        return False
    except (paramiko.PasswordRequiredException, TypeError):  # TypeError: cryptography's "password-protected"
        return True
    except (paramiko.SSHException, OSError, ValueError):
        return False


class HopConnection(Connection):
    """A Fabric Connection over a client this module opened (through its jump hosts)."""

    def __init__(self, client: paramiko.SSHClient, chain: list[paramiko.SSHClient], hop: Hop):
        super().__init__(host=hop.hostname, user=hop.user, port=hop.port,
                         config=Config(overrides={"load_ssh_configs": False}))
        self.client = client
        self.transport = client.get_transport()
        self._chain = chain

    def close(self):
        try:
            super().close()
        finally:
            self.client.close()
            for c in reversed(self._chain):
                c.close()


def connect(target: SshTarget, *, accept_new_host_key: bool = False, timeout: float = 10) -> Connection:
    """An open connection; raises paramiko.SSHException (UnknownHostKey, ChangedHostKey,
    RevokedHostKey, KeyNeedsPassphrase, auth failures) or OSError on failure."""
    hops = hops_for(target, accept_new_host_key)
    chain: list[paramiko.SSHClient] = []
    try:
        for i, hop in enumerate(hops):
            def make_sock(hop=hop, i=i):
                if not chain:
                    return socket.create_connection((hop.hostname, hop.port), timeout=timeout)
                try:
                    return chain[-1].get_transport().open_channel(
                        "direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0), timeout=timeout)
                except paramiko.ChannelException as exc:
                    raise JumpHostError(f"jump host {hops[i - 1].label} cannot reach "
                                                f"{hop.hostname}:{hop.port}: {exc.text}") from None
            try:
                chain.append(_connect_hop(hop, make_sock, timeout))
            except paramiko.AuthenticationException as exc:
                raise paramiko.AuthenticationException(
                    f"{hop.user}@{hop.label}: authentication failed ({exc}); keys tried: "
                    f"{', '.join(hop.key_files) or 'ssh-agent and default keys'}") from None
            except paramiko.SSHException as exc:
                if "No authentication methods" in str(exc):
                    raise paramiko.AuthenticationException(
                        f"{hop.user}@{hop.label}: authentication failed (no usable key: "
                        f"{', '.join(hop.key_files) or 'no ssh-agent key and no default key in ~/.ssh'})") from None
                if i < len(hops) - 1 and not isinstance(exc, NAMED_FAILURES):
                    raise JumpHostError(f"jump host {hop.label}: {exc}") from None
                raise
    except BaseException:
        for c in reversed(chain):
            c.close()
        raise
    return HopConnection(chain[-1], chain[:-1], hops[-1])
