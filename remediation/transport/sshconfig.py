"""Where and how each SSH hop connects, as OpenSSH decides it: `ssh -G` is the resolver.

The inventory's settings become ssh options in the order Ansible's ssh connection passes them
(`StrictHostKeyChecking=no` when host key checking is off, `Port`, `IdentityFile`, `User`, then
ansible_ssh_common_args and ansible_ssh_extra_args); OpenSSH's own `ssh -G` then applies
ssh_config (Include, Match, Host, tokens, first value wins) and prints what ssh would use.
Nothing of ssh_config is re-implemented here.

A ProxyJump hop is resolved the way OpenSSH starts it, `ssh [-F file] [-l user] [-p port]
[-J earlier hops] HOST`, with none of the target's options: every hop's host key is checked
under that hop's own settings. A ProxyCommand is run as ssh runs it (`$SHELL -c 'exec CMD'`)."""
from __future__ import annotations

import getopt
import hashlib
import os
import pwd
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass

from remediation.errors import InputError

# ssh(1)'s own option letters (OpenSSH 9.x getopt string): the grammar of the args it is given.
SSH_GETOPT = "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy"
# flags that would make `ssh -G` do something else than print the configuration
NOT_RESOLVABLE = {"-G": "prints the configuration", "-V": "prints the version", "-Q": "queries algorithms",
                  "-O": "controls a master connection"}
TIMEOUT_S = 20


@dataclass(frozen=True)
class Hop:
    label: str                      # the name given (inventory address or jump spec), for messages
    hostname: str                   # where to connect (ssh_config HostName applied)
    port: int
    user: str
    identity_files: tuple[str, ...] = ()  # in OpenSSH's order, tokens and ~ expanded; missing ones are skipped
    identities_only: bool = False
    identity_agent: str | None = None     # the agent's socket; None: no agent
    known_hosts: tuple[str, ...] = ()     # every file to read, user files first
    add_to: str | None = None             # where a new key is appended (the first user file); None: nowhere
    strict: str = "yes"                   # yes | accept-new (OpenSSH's `no` too: a changed key is still refused)
    host_key_name: str = ""               # the known_hosts name: HostKeyAlias, else HostName (`[h]:p` off 22)
    bare_name: str | None = None          # off port 22 without an alias: the name ssh also accepts a matching key under
    hash_new: bool = False
    proxy_command: str | None = None      # tokens expanded
    config_file: str | None = None        # -F, passed on to jump hops as ssh does

    def describe(self) -> str:
        """Who and where, as resolved, for messages."""
        via = f" via ProxyCommand `{self.proxy_command}`" if self.proxy_command else ""
        return f"{self.user}@{self.hostname}:{self.port}{via}"


def ansible_options(*, user: str | None = None, port: int | None = None, key_file: str | None = None,
                    host_key_checking: bool | None = None) -> list[str]:
    """The inventory's connection vars as Ansible's ssh connection plugin passes them, in its order."""
    argv: list[str] = []
    if host_key_checking is False:
        argv += ["-o", "StrictHostKeyChecking=no"]
    if port is not None:
        argv += ["-o", f"Port={port}"]
    if key_file:
        argv += ["-o", f'IdentityFile="{os.path.expanduser(key_file)}"']
    if user:
        argv += ["-o", f'User="{user}"']
    return argv


def split_args(text: str, where: str) -> list[str]:
    """ansible_ssh_common_args / extra_args as Ansible splits them (shlex), checked against ssh's
    own option grammar: options only, nothing that would name another host or run a command."""
    try:
        argv = shlex.split(text or "")
    except ValueError as exc:
        raise InputError(f"cannot split ssh args: {exc}", where) from None
    try:
        opts, rest = getopt.getopt(argv, SSH_GETOPT)
    except getopt.GetoptError as exc:
        raise InputError(f"ssh args: {exc.msg}", where) from None
    if rest:
        raise InputError(f"ssh args hold {rest[0]!r}, not an option: the host and command are the tool's", where)
    for flag, _ in opts:
        if flag in NOT_RESOLVABLE:
            raise InputError(f"ssh args: {flag} {NOT_RESOLVABLE[flag]}, not a connection setting", where)
    return argv


def config_file_of(argv: list[str]) -> str | None:
    """The -F file among ssh args (the first wins, as in ssh)."""
    opts, _ = getopt.getopt(argv, SSH_GETOPT)
    return next((value for flag, value in opts if flag == "-F"), None)


def ssh_binary() -> str:
    found = shutil.which("ssh")
    if not found:
        raise InputError("OpenSSH's client `ssh` is not installed on this machine: it resolves each host's SSH "
                         "settings (ssh -G); install it (Debian: apt-get install openssh-client)")
    return found


def ssh_g(argv: list[str], host: str, where: str) -> dict[str, list[str]]:
    """`ssh -G ARGV HOST`: every setting ssh would use, keys lower-cased, values in order."""
    cmd = [ssh_binary(), "-G", *argv, "--", host]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InputError(f"`ssh -G {host}` did not answer in {TIMEOUT_S} s (a Match exec that hangs?)", where) from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "Pseudo-terminal" not in ln]
        raise InputError(f"OpenSSH refuses the settings for {host}: {lines[-1] if lines else f'exit {done.returncode}'}",
                         where)
    settings: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), []).append(value)
    return settings


def home_dir() -> str:
    """`~` as OpenSSH expands it: the user's passwd entry, not $HOME."""
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.path.expanduser("~")


def local_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def expand(text: str, *, host: str, original: str, port: int, user: str, alias: str | None,
           jump: str | None = None) -> str:
    """OpenSSH's %-tokens and leading `~` in IdentityFile and ProxyCommand."""
    local = socket.gethostname()
    conn_hash = hashlib.sha1(f"{local}{host}{port}{user}{jump or ''}".encode()).hexdigest()
    values = {"%": "%", "C": conn_hash, "d": home_dir(), "h": host, "i": str(os.getuid()), "k": alias or original,
              "L": local.split(".")[0], "l": local, "n": original, "p": str(port), "r": user, "u": local_user(),
              "j": jump or ""}
    out, i = [], 0
    while i < len(text):
        if text[i] == "%" and i + 1 < len(text):
            token = text[i + 1]
            if token not in values:
                raise InputError(f"unknown %-token %{token} in {text!r}")
            out.append(values[token])
            i += 2
        else:
            out.append(text[i])
            i += 1
    result = "".join(out)
    if result == "~" or result.startswith("~/"):
        result = home_dir() + result[1:]
    return result


def _one(settings: dict[str, list[str]], key: str, default: str | None = None) -> str | None:
    values = settings.get(key)
    return values[0] if values else default


def _off(value: str | None) -> bool:
    return value is None or value.strip().lower() == "none"


def _agent_socket(value: str | None) -> str | None:
    """IdentityAgent: unset or SSH_AUTH_SOCK is the environment's agent; `none` is no agent."""
    if value is None or value == "SSH_AUTH_SOCK":
        return os.environ.get("SSH_AUTH_SOCK") or None
    if value.lower() == "none":
        return None
    if value.startswith("$"):
        return os.environ.get(value[1:]) or None
    return value


STRICT = {"true": "yes", "yes": "yes", "ask": "yes", "accept-new": "accept-new",
          "false": "accept-new", "no": "accept-new", "off": "accept-new"}


def hop_from(settings: dict[str, list[str]], label: str, *, extra_known_hosts: str | None = None,
             accept_new: bool = False, config_file: str | None = None) -> Hop:
    """One hop from what `ssh -G` printed for it."""
    hostname = _one(settings, "hostname", label) or label
    port = int(_one(settings, "port", "22") or 22)
    user = _one(settings, "user") or local_user()
    alias = _one(settings, "hostkeyalias")
    proxyjump = _one(settings, "proxyjump")

    def tokens(text: str) -> str:
        return expand(text, host=hostname, original=label, port=port, user=user, alias=alias,
                      jump=None if _off(proxyjump) else proxyjump)

    if not _off(_one(settings, "knownhostscommand")):
        raise InputError(f"KnownHostsCommand is set for {label}: this tool verifies host keys against known_hosts "
                         "files only and will not trust a key it cannot check")
    user_files = [] if _off(_one(settings, "userknownhostsfile")) else \
        shlex.split(_one(settings, "userknownhostsfile") or "")
    global_files = [] if _off(_one(settings, "globalknownhostsfile")) else \
        shlex.split(_one(settings, "globalknownhostsfile") or "")
    if extra_known_hosts:
        user_files = [os.path.expanduser(extra_known_hosts)] + user_files
    strict = STRICT.get((_one(settings, "stricthostkeychecking") or "ask").lower(), "yes")
    proxy = _one(settings, "proxycommand")
    return Hop(
        label=label, hostname=hostname, port=port, user=user,
        identity_files=tuple(dict.fromkeys(tokens(f) for f in settings.get("identityfile", []))),
        identities_only=(_one(settings, "identitiesonly") or "no").lower() in ("yes", "true"),
        identity_agent=_agent_socket(_one(settings, "identityagent")),
        known_hosts=tuple(user_files + global_files), add_to=user_files[0] if user_files else None,
        strict="accept-new" if accept_new else strict,
        host_key_name=alias or (hostname if port == 22 else f"[{hostname}]:{port}"),
        bare_name=hostname if not alias and port != 22 else None,
        hash_new=(_one(settings, "hashknownhosts") or "no").lower() in ("yes", "true"),
        proxy_command=None if _off(proxy) else tokens(proxy or ""),
        config_file=config_file,
    )


def parse_jump(spec: str, where: str) -> list[tuple[str | None, str, int | None]]:
    """`[user@]host[:port]` hops, comma-separated (ssh:// URLs too), as ssh reads -J."""
    hops = []
    for part in spec.split(","):
        part = part.strip()
        if part.startswith("ssh://"):
            part = part[6:]
        if not part:
            raise InputError(f"empty ProxyJump hop in {spec!r}", where)
        user, _, rest = part.rpartition("@")
        host, port = rest, None
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            port = _port(tail[1:], where) if tail.startswith(":") else None
        elif rest.count(":") == 1:
            host, _, p = rest.partition(":")
            port = _port(p, where)
        hops.append((user or None, host, port))
    return hops


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"must be a port number, not {text!r}", where)
    return int(text)


def resolve(argv: list[str], host: str, *, where: str, extra_known_hosts: str | None = None,
            accept_new: bool = False, depth: int = 0) -> list[Hop]:
    """Every hop to `host` as ssh would make it, first jump host first, the target last.

    `extra_known_hosts` and `accept_new` belong to this hop only: a jump host is checked under
    its own settings (the operator's --accept-new-host-key aside, which the caller passes down)."""
    if depth > 8:
        raise InputError(f"ProxyJump chain to {host} is longer than 8 hops (a loop?)", where)
    config_file = config_file_of(argv)
    settings = ssh_g(argv, host, where)
    hop = hop_from(settings, host, extra_known_hosts=extra_known_hosts, accept_new=accept_new,
                   config_file=config_file)
    jump = _one(settings, "proxyjump")
    if _off(jump) or hop.proxy_command:
        return [hop]
    jumps = parse_jump(jump or "", where)
    (j_user, j_host, j_port), earlier = jumps[-1], jumps[:-1]
    j_argv = ["-F", config_file] if config_file else []
    j_argv += ["-l", j_user] if j_user else []
    j_argv += ["-p", str(j_port)] if j_port else []
    if earlier:
        j_argv += ["-J", ",".join(f"{u + '@' if u else ''}{h}{':' + str(p) if p else ''}" for u, h, p in earlier)]
    return resolve(j_argv, j_host, where=where, depth=depth + 1, accept_new=accept_new) + [hop]
