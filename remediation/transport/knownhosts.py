"""known_hosts files as OpenSSH reads them (parsing and matching are pure; appending is one write).

Plain, wildcard (`*`, `?`), negated (`!`) and hashed (`|1|salt|hash`) host patterns; `[host]:port`
names; `@revoked` lines refuse a key wherever it is offered; `@cert-authority` lines name the CA
keys trusted to sign host certificates for the hosts they match (see hostcert). Adding a key
appends one line and leaves every other byte of the file as it was."""
from __future__ import annotations

import base64
import functools
import binascii
import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass, field

import paramiko

PORT_DEFAULT = 22


def key_name(host: str, port: int) -> str:
    """The name OpenSSH records a host key under: `host`, or `[host]:port` off port 22."""
    return host if port == PORT_DEFAULT else f"[{host}]:{port}"


@dataclass(frozen=True)
class Entry:
    patterns: tuple[str, ...]
    keytype: str
    blob: bytes
    path: str
    line: int


@dataclass
class KnownHosts:
    entries: list[Entry] = field(default_factory=list)
    revoked: list[Entry] = field(default_factory=list)
    authorities: list[Entry] = field(default_factory=list)  # @cert-authority lines


def _hashed_match(pattern: str, name: str) -> bool:
    try:
        _, magic, salt, digest = pattern.split("|")
        if magic != "1":
            return False
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except (ValueError, binascii.Error):
        return False


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> "re.Pattern":
    """OpenSSH's patterns: only `*` and `?` are special (`[host]:port` is literal)."""
    return re.compile(re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", "."))


def _matches(patterns: tuple[str, ...], name: str) -> bool:
    """OpenSSH's rule: some pattern matches and no negated pattern does."""
    hit = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if pattern.startswith("|"):
            ok = _hashed_match(pattern, name)
        else:
            ok = _glob(pattern).fullmatch(name.lower()) is not None
        if ok and negated:
            return False
        hit = hit or ok
    return hit


def parse(text: str, path: str) -> KnownHosts:
    out = KnownHosts()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue  # OpenSSH skips malformed lines too
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        entry = Entry(tuple(fields[0].split(",")), fields[1], blob, path, number)
        if marker == "@revoked":
            out.revoked.append(entry)
        elif marker == "@cert-authority":
            out.authorities.append(entry)
        elif marker is None:
            out.entries.append(entry)
    return out


_CACHE: dict[str, tuple[tuple[int, int], KnownHosts]] = {}
_LOCK = threading.RLock()


def load(path: str) -> KnownHosts:
    """A known_hosts file, parsed once per process and again only when it changes; empty if absent."""
    full = os.path.expanduser(path)
    try:
        st = os.stat(full)
    except OSError:
        return KnownHosts()
    stamp = (st.st_mtime_ns, st.st_size)
    with _LOCK:
        hit = _CACHE.get(full)
        if hit is None or hit[0] != stamp:
            try:
                with open(full, encoding="utf-8", errors="replace") as fh:
                    hit = (stamp, parse(fh.read(), full))
            except OSError:
                return KnownHosts()
            _CACHE[full] = hit
        return hit[1]


def known_keys(files: list[str], name: str) -> list[Entry]:
    return [e for path in files for e in load(path).entries if _matches(e.patterns, name)]


def authorities(files: list[str], name: str) -> list[Entry]:
    """The @cert-authority lines whose patterns match `name`."""
    return [e for path in files for e in load(path).authorities if _matches(e.patterns, name)]


def is_revoked(files: list[str], key: paramiko.PKey) -> Entry | None:
    blob = key.asbytes()
    for path in files:
        for e in load(path).revoked:
            if e.blob == blob:
                return e
    return None


def line_for(name: str, key: paramiko.PKey, hashed: bool = False) -> str:
    host = name
    if hashed:
        salt = os.urandom(20)
        digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        host = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    return f"{host} {key.get_name()} {key.get_base64()}\n"


_APPEND_LOCK = threading.Lock()


def append(path: str, name: str, key: paramiko.PKey, hashed: bool = False) -> None:
    """Add one line for `name` at the end of the file (created 0600 in a 0700 directory if missing)."""
    full = os.path.expanduser(path)
    with _APPEND_LOCK:
        directory = os.path.dirname(full)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            prefix = b""
            size = os.fstat(fd).st_size
            if size:
                with open(full, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        prefix = b"\n"
            os.write(fd, prefix + line_for(name, key, hashed).encode())
        finally:
            os.close(fd)
