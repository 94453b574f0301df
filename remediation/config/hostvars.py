"""Checks on host variables that need no host: this tool's own path variables are sane, and
which variables it reads, with the one-line refusal or warning for the rest (pure).

The connection vars Ansible users set are read as Ansible reads them; a var this tool would
have to ignore while the user relies on it (a password, another connection type, a Jinja
value in a var the tool reads) is refused; an `ansible_*` var the tool does not use is a
warning; a `remediation_*` var the tool does not know is refused (a typo would silently turn
off a safety check), with the nearest known name."""
from __future__ import annotations

import difflib
import posixpath
from typing import Any

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

REMEDIATION_VARS = {
    "remediation_apps": "the gunicorn apps of the host to work on (names as inspect shows them; default: every app)",
    "remediation_skip_apps": "gunicorn apps of the host never to touch",
    "remediation_verify_paths": "each app's own URL path to verify on ({app: /path}; wins over remediation_verify_path)",
    "remediation_app_dir": "the app's directory on the host (absolute)",
    "remediation_app_port": "the port gunicorn serves on (verify requests)",
    "remediation_app_url": "the URL verify requests (default http://127.0.0.1:PORT/)",
    "remediation_compose_file": "the docker-compose file of the app (absolute)",
    "remediation_compose_service": "the compose service running gunicorn",
    "remediation_podman_container": "the podman container running gunicorn (its name or id)",
    "remediation_db_group": "the inventory group of hosts sharing one database server",
    "remediation_drain_command": "a shell command taking the host out of its load balancer before any change",
    "remediation_drain_wait_s": "seconds to wait after the drain command (in-flight requests finishing)",
    "remediation_hook_timeout_s": "how long a drain or ready command may take (default 120)",
    "remediation_hooks_run_on": "where the drain and ready commands run: controller (default) or host",
    "remediation_known_hosts_file": "an extra known_hosts file (new keys are appended here)",
    "remediation_ready_command": "a shell command putting the host back into its load balancer once it serves",
    "remediation_restart": "how a change is applied: gentlest (default: HUP where a reload applies it) or manager",
    "remediation_supervisor_program": "the supervisor program running gunicorn",
    "remediation_verify_path": "the URL path verify requests on this host",
}

# Ansible connection vars this tool reads (the ssh connection plugin's names and aliases).
ANSIBLE_READ = {
    "ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user", "ansible_ssh_user",
    "ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_ssh_common_args", "ansible_ssh_extra_args",
    "ansible_python_interpreter", "ansible_connection", "ansible_become", "ansible_become_method",
    "ansible_become_user", "ansible_group_priority", "ansible_host_key_checking", "ansible_ssh_host_key_checking",
}
ANSIBLE_REFUSED = {
    "ansible_password": "password login is not supported: use a key or the ssh-agent",
    "ansible_ssh_pass": "password login is not supported: use a key or the ssh-agent",
    "ansible_ssh_password": "password login is not supported: use a key or the ssh-agent",
    "ansible_become_password": "the host agent runs under passwordless sudo (`sudo -n`); a sudo password "
                               "is not supported",
    "ansible_become_pass": "the host agent runs under passwordless sudo (`sudo -n`); a sudo password is not "
                           "supported",
    "ansible_sudo_pass": "the host agent runs under passwordless sudo (`sudo -n`); a sudo password is not supported",
}
CONNECTIONS = ("ssh", "paramiko", "paramiko_ssh", "smart")
RESTART_CHOICES = ("gentlest", "manager")  # remediation_restart: plan/restart_kind.py


def _is_jinja(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check(host: str, values: dict, origins: dict) -> list[str]:
    """Raise InputError for a var the tool cannot honour; return warning lines for the rest."""
    warnings: list[str] = []

    def where(key: str) -> tuple:
        path, line = origins.get(key, (None, None))
        return path, line

    def fail(key: str, message: str) -> None:
        path, line = where(key)
        raise InputError(f"host {host}: {message}", path, line, key)

    def warn(key: str, message: str) -> None:
        path, line = where(key)
        at = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        warnings.append(f"{at}{key}: {message}")

    for key, value in values.items():
        if not isinstance(key, str):
            continue
        read = key in ANSIBLE_READ or key in REMEDIATION_VARS
        if _is_jinja(value):
            if read:
                fail(key, "Jinja values are not templated by this tool; give the value itself "
                          f"(or use an ansible-inventory source): {value[:60]!r}")
            warn(key, "a Jinja value, not templated by this tool (not a var it reads)")
        if key in ANSIBLE_REFUSED:
            fail(key, ANSIBLE_REFUSED[key])
        elif key.startswith("remediation_") and key not in REMEDIATION_VARS:
            near = difflib.get_close_matches(key, list(REMEDIATION_VARS), 1)
            fail(key, "unknown remediation variable" + (f" (did you mean {near[0]}?)" if near else
                                                         f" (known: {', '.join(sorted(REMEDIATION_VARS))})"))
        elif key.startswith("ansible_") and key not in ANSIBLE_READ:
            near = difflib.get_close_matches(key, list(ANSIBLE_READ), 1, 0.85)
            warn(key, "not used by this tool" + (f" (did you mean {near[0]}?)" if near else ""))
    restart = values.get("remediation_restart")
    if restart is not None and restart not in RESTART_CHOICES:
        fail("remediation_restart", f"must be one of {', '.join(RESTART_CHOICES)}, not {restart!r}")
    conn = values.get("ansible_connection")
    if conn is not None and conn not in CONNECTIONS:
        fail("ansible_connection", f"connection {conn!r} is not supported (this tool connects over SSH)")
    if values.get("ansible_become_method", "sudo") != "sudo":
        fail("ansible_become_method", "the host agent runs under sudo; another become method is not supported")
    if values.get("ansible_become_user", "root") != "root":
        fail("ansible_become_user", "the host agent runs as root under sudo")
    python = values.get("ansible_python_interpreter")
    if python is not None and (not isinstance(python, str) or not python.startswith("/") and python != "python3"
                               and "auto" not in python):
        fail("ansible_python_interpreter", f"must be an absolute path (or auto), not {python!r}")
    return warnings
