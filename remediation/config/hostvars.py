"""Checks on this tool's own host variables that need no host: path variables are sane."""
from __future__ import annotations

import posixpath

from remediation.errors import InputError

PATH_VARS = ("remediation_app_dir", "remediation_compose_file")


def check_path_vars(host_name: str, host_vars: dict, where: str) -> None:
    """Path variables must be absolute and normalized: no `..`, no relative paths, no control characters."""
    for key in PATH_VARS:
        if key not in host_vars:
            continue
        value = host_vars[key]
        ok = (isinstance(value, str) and value.startswith("/") and posixpath.normpath(value) == value.rstrip("/")
              and ".." not in value.split("/") and not any(ord(ch) < 32 for ch in value))
        if not ok:
            raise InputError(f"host {host_name}: must be an absolute path without '..', not {value!r}", where, key=key)


def check_verify_path(host_name: str, host_vars: dict, where: str) -> None:
    """`remediation_verify_path`, the host's own URL to verify on: an absolute URL path, nothing else."""
    value = host_vars.get("remediation_verify_path")
    if value is None:
        return
    if not (isinstance(value, str) and value.startswith("/") and not any(ch.isspace() or ord(ch) < 32 for ch in value)):
        raise InputError(f"host {host_name}: must be a URL path starting with / (no spaces), not {value!r}", where,
                         key="remediation_verify_path")
