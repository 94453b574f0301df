"""What the inventory says a host runs, checked against what the tool found there (pure).

`remediation_app_dir`, `remediation_supervisor_program`, `remediation_compose_file` and
`remediation_compose_service` are optional. When set, they are the operator's statement
of the host: a live process that disagrees means the wrong host or a stale inventory, and
no file outside the app directory is written (but the restart manager's own config files,
which the live process's manager reads, e.g. /etc/supervisor/conf.d/app.conf).
"""
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


def _under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/")


def _manager_config(path: str, method) -> bool:
    """A file of the restart manager's own configuration (the live process's manager reads it)."""
    if path in method.config_files:
        return True
    if method.kind == "supervisor":  # programs live in files the main config includes, beside it
        return any(_under(path, posixpath.dirname(conf)) for conf in method.config_files)
    return method.kind == "systemd" and _under(path, "/etc/systemd")


def mismatches(host_vars: dict, ins) -> list[str]:
    """One line per disagreement between the inventory and the host (empty when none or unset)."""
    out = []
    master = ins.gathered.master
    method = master.restart
    app_dir = host_vars.get("remediation_app_dir")
    if app_dir:
        cwd = master.host_path(master.cwd) if master.cwd else None
        if cwd and not _under(cwd, app_dir):
            out.append(f"gunicorn (pid {master.pid}) runs in {cwd}, not under remediation_app_dir {app_dir}: "
                       "wrong host or stale inventory")
        for rel in sorted(ins.audit.patched):
            path = "/" + rel
            remote_file = ins.gathered.files.get(path)
            real = (remote_file.realpath if remote_file is not None and remote_file.realpath else path)
            if _manager_config(path, method):
                continue
            if not _under(path, app_dir) or not _under(real, app_dir):
                out.append(f"{path} is outside remediation_app_dir {app_dir}: not written")
    program = host_vars.get("remediation_supervisor_program")
    if program and method.kind == "supervisor" and method.program not in (program, None) \
            and method.program.split(":")[-1] != program:
        out.append(f"supervisor runs gunicorn as program {method.program!r}, the inventory says {program!r}")
    service = host_vars.get("remediation_compose_service")
    if service and method.kind == "docker-compose" and method.program and method.program != service:
        out.append(f"docker-compose runs gunicorn as service {method.program!r}, the inventory says {service!r}")
    compose_file = host_vars.get("remediation_compose_file")
    if compose_file and method.kind == "docker-compose" and method.config_files \
            and compose_file not in method.config_files:
        out.append(f"the container was started from {', '.join(method.config_files)}, the inventory says "
                   f"{compose_file}")
    if (program and method.kind not in ("supervisor", "unknown")) or \
            ((service or compose_file) and method.kind not in ("docker-compose", "unknown")):
        out.append(f"gunicorn is managed by {method.kind}, not what the inventory says")
    return out
