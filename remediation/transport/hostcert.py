"""OpenSSH host certificates (PROTOCOL.certkeys), checked as ssh checks them against an
`@cert-authority` line: a host certificate, signed by that CA key, valid now, naming the host
among its principals, with no critical option (none is defined for host certificates).
Parsing and checking are pure; the signature is verified with paramiko's key classes."""
from __future__ import annotations

from dataclasses import dataclass

import paramiko

CERT_SUFFIX = "-cert-v01@openssh.com"
HOST_CERT = 2
# after the nonce, the certified public key's own fields: strings or mpints, by key type
KEY_FIELDS = {"ssh-ed25519": ("string",), "ecdsa-sha2-nistp256": ("string", "string"),
              "ecdsa-sha2-nistp384": ("string", "string"), "ecdsa-sha2-nistp521": ("string", "string"),
              "ssh-rsa": ("mpint", "mpint"), "ssh-dss": ("mpint", "mpint", "mpint", "mpint")}


class BadCertificate(ValueError):
    pass


@dataclass(frozen=True)
class HostCertificate:
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: bytes
    ca_blob: bytes
    signed: bytes          # every byte the CA signed
    signature: bytes


def is_certificate(key: paramiko.PKey) -> bool:
    blob = getattr(key, "public_blob", None)
    return blob is not None and str(blob.key_type).endswith(CERT_SUFFIX)


class _Reader:
    """SSH wire format, strictly: a length past the end is an error, never zero padding."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadCertificate("malformed certificate: truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def string(self) -> bytes:
        return self.take(self.uint(4))

    def text(self) -> str:
        try:
            return self.string().decode()
        except UnicodeDecodeError:
            raise BadCertificate("malformed certificate: a name is not UTF-8") from None


def parse(blob: bytes) -> HostCertificate:
    """A certificate blob as the server sent it."""
    r = _Reader(blob)
    key_type = r.text()
    plain = key_type[: -len(CERT_SUFFIX)] if key_type.endswith(CERT_SUFFIX) else ""
    if plain not in KEY_FIELDS:
        raise BadCertificate(f"not a certificate type this tool reads: {key_type}")
    r.string()  # nonce
    for _ in KEY_FIELDS[plain]:
        r.string()  # the certified key's own fields (an mpint is a string on the wire)
    r.uint(8)  # serial
    cert_type = r.uint(4)
    key_id = r.text()
    names = _Reader(r.string())
    principals = []
    while names.pos < len(names.data):
        principals.append(names.text())
    valid_after, valid_before = r.uint(8), r.uint(8)
    critical = r.string()
    r.string()  # extensions
    r.string()  # reserved
    ca_blob = r.string()
    signed_length = r.pos
    signature = r.string()
    if r.pos != len(blob):
        raise BadCertificate("malformed certificate: bytes after the signature")
    return HostCertificate(cert_type, key_id, tuple(principals), valid_after, valid_before, critical, ca_blob,
                           blob[:signed_length], signature)


def problem(cert: HostCertificate, ca_key: paramiko.PKey, name: str, now: int) -> str | None:
    """Why ssh would not accept `cert` for `name` under `ca_key`, or None."""
    if cert.ca_blob != ca_key.asbytes():
        return "signed by another CA"
    if cert.cert_type != HOST_CERT:
        return "not a host certificate"
    if not ca_key.verify_ssh_sig(cert.signed, paramiko.Message(cert.signature)):
        return "the CA's signature does not verify"
    if not cert.valid_after <= now < cert.valid_before:
        return "not valid now"
    if cert.critical_options:
        return "it has critical options (none is defined for host certificates)"
    if cert.principals and name not in cert.principals:
        return f"{name} is not among its principals ({', '.join(cert.principals)})"
    return None
