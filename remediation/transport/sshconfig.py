"""Where and how each SSH hop connects, as OpenSSH decides it (pure, given a parsed ssh_config).

Precedence as with `ssh`: the inventory's vars (Ansible passes them as -o options: User, Port,
IdentityFile) and ansible_ssh_common_args/extra_args (`-o Key=Value`, `-J`, `-p`, `-l`, `-i`)
first, then ~/.ssh/config (paramiko's SSHConfig: Host patterns, HostName, User, Port,
IdentityFile, ProxyJump, UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking,
HostKeyAlias, HashKnownHosts, IdentitiesOnly), then OpenSSH's defaults. A missing user is the
local user. ProxyJump hops are resolved through the same config, each verified like the target."""
from __future__ import annotations

import getpass
import os
import shlex
from dataclasses import dataclass, field

import paramiko

from remediation.errors import InputError

DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
# -o options that change who we are, where we go or which keys we trust: read.
READ_OPTIONS = {"proxyjump", "user", "port", "identityfile", "userknownhostsfile", "globalknownhostsfile",
                "stricthostkeychecking", "hostkeyalias", "hostname", "identitiesonly", "hashknownhosts"}
# -o options that only tune a session: ignored, as they change nothing this tool relies on.
HARMLESS_OPTIONS = {"controlmaster", "controlpersist", "controlpath", "serveraliveinterval", "serveralivecountmax",
                    "compression", "connecttimeout", "loglevel", "preferredauthentications", "tcpkeepalive",
                    "forwardagent", "forwardx11", "requesttty", "pubkeyauthentication", "passwordauthentication",
                    "kbdinteractiveauthentication", "gssapiauthentication", "addkeystoagent", "checkhostip",
                    "pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms", "hostkeyalgorithms", "ciphers", "macs",
                    "kexalgorithms", "connectionattempts", "batchmode", "ipqos", "visualhostkey"}


@dataclass(frozen=True)
class Hop:
    label: str                      # the name given (inventory address or jump spec), for messages
    hostname: str                   # where to connect (ssh_config HostName applied)
    port: int
    user: str
    key_files: tuple[str, ...] = ()
    look_for_keys: bool = True
    known_hosts: tuple[str, ...] = ()   # every file to read, user files first
    add_to: str = "~/.ssh/known_hosts"  # where a new key is appended
    strict: str = "yes"             # yes | accept-new | no (no: treated as accept-new, a changed key is refused)
    host_key_name: str = ""         # the known_hosts name: HostKeyAlias, else HostName (`[h]:p` off 22)
    hash_new: bool = False


@dataclass
class Options:
    """What command-line style args (-o, -J, -p, -l, -i) set; first value wins, as in ssh."""
    values: dict[str, str] = field(default_factory=dict)
    identity_files: list[str] = field(default_factory=list)

    def set(self, key: str, value: str, where: str) -> None:
        key = key.lower()
        if key == "proxycommand":
            raise InputError("ProxyCommand is not supported (use ProxyJump / -J)", where)
        if key in HARMLESS_OPTIONS:
            return
        if key not in READ_OPTIONS:
            raise InputError(f"ssh option {key!r} is not supported by this tool", where)
        if key == "identityfile":
            self.identity_files.append(value)
        else:
            self.values.setdefault(key, value)


def parse_args(text: str, where: str) -> Options:
    """ansible_ssh_common_args / ansible_ssh_extra_args, as ssh would read them."""
    opts = Options()
    try:
        argv = shlex.split(text or "")
    except ValueError as exc:
        raise InputError(f"cannot split ssh args: {exc}", where) from None
    i = 0
    flags = {"-J": "proxyjump", "-p": "port", "-l": "user", "-i": "identityfile"}
    while i < len(argv):
        arg = argv[i]
        if arg in ("-o", *flags) or (arg[:2] in ("-o", *flags) and len(arg) > 2):
            flag, value = (arg, None) if len(arg) == 2 else (arg[:2], arg[2:])
            if value is None:
                i += 1
                if i >= len(argv):
                    raise InputError(f"ssh option {flag} needs a value", where)
                value = argv[i]
            if flag == "-o":
                key, sep, val = value.partition("=")
                if not sep:
                    key, _, val = value.partition(" ")
                opts.set(key.strip(), val.strip(), where)
            else:
                opts.set(flags[flag], value, where)
        elif arg in ("-4", "-6", "-C", "-q", "-v", "-A", "-a", "-x", "-X", "-T", "-tt", "-t", "-n", "-N"):
            pass
        else:
            raise InputError(f"ssh argument {arg!r} is not supported by this tool", where)
        i += 1
    return opts


def _files(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if value.strip().lower() == "none":
        return ()
    return tuple(shlex.split(value))


def _port(value, where: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"must be a port number, not {value!r}", where)
    return int(text)


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def parse_jump(spec: str, where: str) -> list[tuple[str | None, str, int | None]]:
    """`[user@]host[:port]` hops, comma-separated (ssh:// URLs too)."""
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


def resolve(config: paramiko.SSHConfig, address: str, *, user: str | None = None, port: int | None = None,
            key_file: str | None = None, extra_known_hosts: str | None = None, args: Options | None = None,
            strict: str | None = None, where: str = "", depth: int = 0) -> list[Hop]:
    """Every hop to `address`, first jump host first, the target last."""
    if depth > 8:
        raise InputError(f"ProxyJump chain to {address} is longer than 8 hops (a loop?)", where)
    opts = args or Options()
    o = opts.values
    cfg = config.lookup(address)
    hostname = o.get("hostname") or cfg.get("hostname") or address
    the_user = user or o.get("user") or cfg.get("user") or local_user()
    the_port = port or (_port(o["port"], where) if "port" in o else None) or \
        (_port(cfg["port"], where) if "port" in cfg else 22)
    keys = [key_file] if key_file else (opts.identity_files or list(cfg.get("identityfile") or []))
    only = (o.get("identitiesonly") or cfg.get("identitiesonly") or "no").lower() == "yes"
    user_files = _files(o.get("userknownhostsfile") or cfg.get("userknownhostsfile"), DEFAULT_USER_KNOWN_HOSTS)
    global_files = _files(o.get("globalknownhostsfile") or cfg.get("globalknownhostsfile"),
                          DEFAULT_GLOBAL_KNOWN_HOSTS)
    files = ((extra_known_hosts,) if extra_known_hosts else ()) + user_files + global_files
    add_to = extra_known_hosts or (user_files[0] if user_files else DEFAULT_USER_KNOWN_HOSTS[0])
    checking = (strict or o.get("stricthostkeychecking") or cfg.get("stricthostkeychecking") or "yes").lower()
    checking = {"yes": "yes", "ask": "yes", "true": "yes", "accept-new": "accept-new", "no": "accept-new",
                "off": "accept-new", "false": "accept-new"}.get(checking, "yes")
    if strict == "accept-new":  # the caller's explicit --accept-new-host-key
        checking = "accept-new"
    alias = o.get("hostkeyalias") or cfg.get("hostkeyalias")
    hop = Hop(label=address, hostname=hostname, port=the_port, user=the_user,
              key_files=tuple(os.path.expanduser(k) for k in keys), look_for_keys=not keys and not only,
              known_hosts=files, add_to=add_to, strict=checking,
              host_key_name=alias or _key_name(hostname, the_port),
              hash_new=(o.get("hashknownhosts") or cfg.get("hashknownhosts") or "no").lower() == "yes")
    jump = o.get("proxyjump") or cfg.get("proxyjump")
    if not jump or jump.strip().lower() == "none":
        return [hop]
    jumps = parse_jump(jump, where)
    (j_user, j_host, j_port), earlier = jumps[-1], jumps[:-1]
    j_args = Options()
    if earlier:
        j_args.values["proxyjump"] = ",".join(f"{u + '@' if u else ''}{h}{':' + str(p) if p else ''}"
                                              for u, h, p in earlier)
    # the caller's --accept-new-host-key covers bastions too; the target's ssh_config checking does not
    via = resolve(config, j_host, user=j_user, port=j_port, extra_known_hosts=extra_known_hosts, args=j_args,
                  strict=strict if strict == "accept-new" else None, where=where, depth=depth + 1)
    return via + [hop]


def _key_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


SYSTEM_CONFIG = "/etc/ssh/ssh_config"


def _expanded(path: str, base: str, depth: int = 0) -> str:
    """A config file's text with its `Include` lines replaced by the files they name (paramiko
    ignores Include); relative names are under `base` (~/.ssh, or /etc/ssh for the system file)."""
    import glob
    import re

    if depth > 16:
        raise InputError("ssh config Include nested too deep (a loop?)", path)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the ssh config: {exc.strerror}", path) from None
    out = []
    for line in lines:
        m = re.match(r"^\s*include\s*[= ]\s*(.+)$", line, re.I)
        if not m:
            out.append(line)
            continue
        for pattern in shlex.split(m.group(1)):
            pattern = os.path.expanduser(pattern)
            if not os.path.isabs(pattern):
                pattern = os.path.join(base, pattern)
            for name in sorted(glob.glob(pattern)):
                if os.path.isfile(name):
                    out.append(_expanded(name, base, depth + 1))
    return "\n".join(out)


def load_config(path: str | None = None) -> paramiko.SSHConfig:
    """~/.ssh/config (or `path`), then the system's /etc/ssh/ssh_config, as ssh reads them (the
    first value obtained wins; Include lines followed); empty when there are none; a bad file is one line."""
    full = os.path.expanduser(path or "~/.ssh/config")
    texts = []
    if os.path.exists(full):
        texts.append(_expanded(full, os.path.expanduser("~/.ssh")))
    if path is None and os.path.exists(SYSTEM_CONFIG):
        texts.append(_expanded(SYSTEM_CONFIG, os.path.dirname(SYSTEM_CONFIG)))
    if not texts:
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_text("\nHost *\n".join(texts))  # the system file's top is global
    except (paramiko.ConfigParseError, ValueError) as exc:
        raise InputError(f"cannot read the ssh config: {exc}", full) from None
