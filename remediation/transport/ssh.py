"""SSH connections to fleet hosts, as OpenSSH makes them: each hop resolved by `ssh -G`
(sshconfig), reached directly, through the previous hop (ProxyJump) or through its ProxyCommand,
its host key checked under its own settings, then public-key login with the keys ssh would offer
in ssh's order (the IdentityAgent's keys, only the IdentityFile ones under IdentitiesOnly, then the
files that exist).

One connection per host for a whole run. An unknown key is refused unless that hop's settings
(StrictHostKeyChecking accept-new/no) or the operator (--accept-new-host-key) allow adding it,
which appends one line to that hop's first UserKnownHostsFile; a changed or @revoked key is
always refused, on a bastion as on the target."""
from __future__ import annotations

import base64
import binascii
import getpass
import os
import shlex
import socket
import sys
import threading
import time
from dataclasses import dataclass

import paramiko
from fabric import Config, Connection

from remediation.transport import hostcert, knownhosts, sshconfig
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


class NoRoute(OSError):
    """The first hop could not be reached (the message names the resolved address and route)."""


# failures whose own message names the hop and the fix: not wrapped again as "jump host X: ..."
NAMED_FAILURES = (UnknownHostKey, ChangedHostKey, RevokedHostKey, KeyNeedsPassphrase, JumpHostError)

def hops_for(target: SshTarget, accept_new_host_key: bool = False) -> list[Hop]:
    """The target's hops as OpenSSH resolves them: the inventory's vars as Ansible passes them,
    then its ssh args, then ssh_config (`ssh -G`)."""
    where = f"host {target.name}"
    argv = (["-F", target.ssh_config] if target.ssh_config else []) + sshconfig.ansible_options(
        user=target.user, port=target.port, key_file=target.key_file, host_key_checking=target.host_key_checking)
    argv += sshconfig.split_args(target.ssh_args, where)
    return sshconfig.resolve(argv, target.address, where=where, extra_known_hosts=target.known_hosts,
                             accept_new=accept_new_host_key)


def check_host_key(hop: Hop, key: paramiko.PKey) -> None:
    """OpenSSH's verdict on one hop's key, under that hop's own settings: known, or refused;
    a new key is appended only where the hop's settings (or the operator) accept new keys."""
    files = list(hop.known_hosts)
    revoked = knownhosts.is_revoked(files, key)
    if revoked:
        raise RevokedHostKey(f"host key of {hop.label} ({hop.host_key_name}) is REVOKED "
                             f"({revoked.path}:{revoked.line}); refusing to connect")
    distrust = ""
    if hostcert.is_certificate(key):
        distrust = _certificate_problem(hop, key, files)
        if not distrust:
            return
        distrust = f"; its certificate is not trusted ({distrust}), so its plain key was checked, as ssh retries"
    known = knownhosts.known_keys(files, hop.host_key_name)
    if any(e.blob == key.asbytes() for e in known):
        return
    if not known and hop.bare_name and any(e.blob == key.asbytes()
                                           for e in knownhosts.known_keys(files, hop.bare_name)):
        return  # as ssh: no entry for [host]:port, but this very key is known for the host "w/out port"
    if known:
        same_type = [e for e in known if e.keytype == key.get_name()]
        e = (same_type or known)[0]
        raise ChangedHostKey(f"host key for {hop.host_key_name} CHANGED (possible man-in-the-middle; "
                             f"known at {e.path}:{e.line}); refusing to connect", hop.host_key_name, key, key)
    if hop.strict == "accept-new" and hop.add_to:
        knownhosts.append(hop.add_to, hop.host_key_name, key, hop.hash_new)
        return
    raise UnknownHostKey(f"host key of {hop.label} ({hop.host_key_name}) is unknown: not found in known_hosts "
                         f"({', '.join(files) or 'none'}){distrust}; add it, or pass --accept-new-host-key")


def _certificate_problem(hop: Hop, key: paramiko.PKey, files: list[str]) -> str:
    """Why a host certificate (asked for only where an @cert-authority line matches the host) is
    not trusted, "" when it is: signed by one of those CAs, valid now, naming the host
    (HostKeyAlias, else HostName)."""
    try:
        cert = hostcert.parse(key.public_blob.key_blob)
    except hostcert.BadCertificate as exc:
        return str(exc)
    name = hop.host_key_name if hop.bare_name is None else hop.bare_name
    reasons = []
    for entry in knownhosts.authorities(files, hop.host_key_name):
        ca_key = _public_key(entry.keytype, entry.blob)
        if knownhosts.is_revoked(files, ca_key):
            reasons.append(f"the CA at {entry.path}:{entry.line} is REVOKED")
            continue
        why = hostcert.problem(cert, ca_key, name, int(time.time()))
        if why is None:
            return ""
        reasons.append(why)
    return "; ".join(dict.fromkeys(reasons)) or "no @cert-authority line matches"


def _public_key(keytype: str, blob: bytes) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(keytype, blob)


def _host_key_types(hop: Hop) -> tuple[str, ...] | None:
    """The host key types to ask for, as ssh orders them: certificates first where an
    @cert-authority line matches the host, then the plain types known for it; None: paramiko's."""
    files = list(hop.known_hosts)
    known = {e.keytype for e in knownhosts.known_keys(files, hop.host_key_name)}
    if "ssh-rsa" in known:
        known |= {"rsa-sha2-512", "rsa-sha2-256"}
    plain = [t for t in paramiko.Transport._preferred_keys if t in known]
    certs: list[str] = []
    if knownhosts.authorities(files, hop.host_key_name):
        certs = [t for t in paramiko.Transport._key_info if t.endswith(hostcert.CERT_SUFFIX)]
        plain = plain or list(paramiko.Transport._preferred_keys)
    if not certs and not plain:
        return None
    return tuple(certs + plain)


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


class _AgentAt(paramiko.agent.AgentSSH):
    """The ssh-agent listening on one socket (IdentityAgent), whatever SSH_AUTH_SOCK says."""

    def __init__(self, path: str):
        super().__init__()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        self._connect(sock)


def _agent_keys(hop: Hop) -> tuple[list[paramiko.AgentKey], _AgentAt | None]:
    if not hop.identity_agent:
        return [], None
    try:
        agent = _AgentAt(hop.identity_agent)
    except (OSError, paramiko.SSHException):
        return [], None  # as ssh: no agent there, go on with the files
    return list(agent.get_keys()), agent


def _public_blob(path: str) -> bytes | None:
    """A key file's public half, from FILE.pub or the unencrypted private key, as ssh reads it."""
    try:
        with open(path + ".pub", encoding="utf-8") as fh:
            fields = fh.read().split()
        return base64.b64decode(fields[1]) if len(fields) >= 2 else None
    except (OSError, ValueError, binascii.Error):
        pass
    try:
        return paramiko.PKey.from_path(path).asbytes()
    except Exception:  # encrypted, unreadable or not a key: ssh finds no public half either
        return None


@dataclass
class Candidate:
    label: str                       # the file, or "agent key COMMENT"
    key: paramiko.PKey | None = None  # None: a file to load (and maybe decrypt) when its turn comes
    path: str | None = None


def candidates(hop: Hop, agent_keys: list) -> list[Candidate]:
    """Keys in the order ssh offers them: agent keys (only those of the IdentityFile list under
    IdentitiesOnly), then the remaining files; files that do not exist are skipped, as ssh does."""
    files = [f for f in hop.identity_files if os.path.isfile(f)]
    blobs = {f: _public_blob(f) for f in files}
    out: list[Candidate] = []
    used: set[str] = set()
    for key in agent_keys:
        owner = next((f for f in files if f not in used and blobs[f] == key.asbytes()), None)
        if owner is not None:
            used.add(owner)
            out.append(Candidate(f"{owner} (from the agent)", key=key))
        elif not hop.identities_only:
            comment = getattr(key, "comment", "") or key.get_fingerprint().hex()[:16]
            out.append(Candidate(f"agent key {comment}", key=key))
    out += [Candidate(f, path=f) for f in files if f not in used]
    return out


def _file_key(path: str, hop: Hop) -> paramiko.PKey | None | str:
    """A key file loaded as ssh would: decrypted with a passphrase asked on a terminal; the path
    back when it is encrypted and no passphrase can be asked; None when it is no key at all."""
    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):  # TypeError: cryptography's "password-protected"
        phrase = _passphrase(path)
        if phrase is None:
            return path
        try:
            return paramiko.PKey.from_path(path, password=phrase.encode())
        except (paramiko.SSHException, ValueError, TypeError):
            with _PROMPT_LOCK:
                _PASSPHRASES.pop(path, None)
            raise KeyNeedsPassphrase(f"{hop.describe()}: wrong passphrase for {path}") from None
    except (paramiko.SSHException, OSError, ValueError):
        return None  # not a key ssh could load either


def _authenticate(transport: paramiko.Transport, hop: Hop) -> None:
    agent_keys, agent = _agent_keys(hop)
    offered: list[str] = []
    encrypted: list[str] = []
    try:
        for cand in candidates(hop, agent_keys):
            key = cand.key if cand.key is not None else _file_key(cand.path or "", hop)
            if isinstance(key, str):
                encrypted.append(key)
                continue
            if key is None:
                continue
            offered.append(cand.label)
            try:
                transport.auth_publickey(hop.user, key)
            except paramiko.AuthenticationException:
                continue
            if transport.is_authenticated():
                return
    finally:
        if agent is not None:
            agent._close()
    if encrypted and not offered:
        raise KeyNeedsPassphrase(f"key {encrypted[0]} is encrypted and not in the ssh-agent: run `ssh-add "
                                 f"{encrypted[0]}`, or run on a terminal to be asked its passphrase")
    tried = ", ".join(offered) or "none (no agent key, no identity file that exists)"
    locked = f"; encrypted, not tried: {', '.join(encrypted)}" if encrypted else ""
    raise paramiko.AuthenticationException(f"{hop.describe()}: authentication failed; keys offered: {tried}{locked}")


def _proxy_sock(hop: Hop) -> paramiko.ProxyCommand:
    """ProxyCommand as ssh runs it: `$SHELL -c 'exec COMMAND'`."""
    shell = os.environ.get("SHELL") or "/bin/sh"
    return paramiko.ProxyCommand(shlex.join([shell, "-c", f"exec {hop.proxy_command}"]))


def _connect_hop(hop: Hop, sock, timeout: float) -> paramiko.SSHClient:
    """Key exchange, this hop's host key checked, then public-key login, over `sock`."""
    transport = paramiko.Transport(sock)
    wanted = _host_key_types(hop)
    if wanted:
        transport.get_security_options().key_types = wanted
    transport.banner_timeout = timeout
    transport.auth_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        check_host_key(hop, transport.get_remote_server_key())
        _authenticate(transport, hop)
    except BaseException:
        transport.close()
        raise
    client = paramiko.SSHClient()
    client._transport = transport  # what SSHClient.connect would have set
    return client


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


def chain_text(hops: list[Hop]) -> str:
    """The resolved route, for messages: `user@host:port` of each hop, the target last."""
    return " -> ".join(h.describe() for h in hops)


def connect(target: SshTarget, *, accept_new_host_key: bool = False, timeout: float = 10) -> Connection:
    """An open connection; raises paramiko.SSHException (UnknownHostKey, ChangedHostKey,
    RevokedHostKey, KeyNeedsPassphrase, auth failures) or OSError on failure. Every message
    names the resolved route (user, address, port, jump chain), not the inventory alias."""
    hops = hops_for(target, accept_new_host_key)
    route = f" [route: {chain_text(hops)}]" if len(hops) > 1 or hops[0].proxy_command else ""
    chain: list[paramiko.SSHClient] = []
    try:
        for i, hop in enumerate(hops):
            if hop.proxy_command:
                sock = _proxy_sock(hop)
            elif not chain:
                try:
                    sock = socket.create_connection((hop.hostname, hop.port), timeout=timeout)
                except OSError as exc:
                    reason = exc.strerror or str(exc) or type(exc).__name__
                    raise NoRoute(exc.errno, f"cannot reach {hop.describe()}: {reason}{route}") from None
            else:
                try:
                    sock = chain[-1].get_transport().open_channel(
                        "direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0), timeout=timeout)
                except paramiko.ChannelException as exc:
                    raise JumpHostError(f"jump host {hops[i - 1].describe()} cannot reach "
                                      f"{hop.hostname}:{hop.port}: {exc.text}{route}") from None
            try:
                chain.append(_connect_hop(hop, sock, timeout))
            except NAMED_FAILURES:
                raise
            except paramiko.AuthenticationException as exc:
                raise paramiko.AuthenticationException(f"{exc}{route}") from None
            except paramiko.SSHException as exc:
                if i < len(hops) - 1:
                    raise JumpHostError(f"jump host {hop.describe()}: {exc}{route}") from None
                raise paramiko.SSHException(f"{hop.describe()}: {exc}{route}") from None
    except BaseException:
        for c in reversed(chain):
            c.close()
        raise
    return HopConnection(chain[-1], chain[:-1], hops[-1])
