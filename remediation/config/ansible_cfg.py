"""The Ansible settings that decide which inventory and how to log in, found as Ansible finds
them: the environment variable, else the first ansible.cfg of ANSIBLE_CONFIG, ./ansible.cfg
(not in a world-writable directory), ~/.ansible.cfg, /etc/ansible/ansible.cfg. Paths in a
config file are relative to that file, as Ansible's `path`/`pathlist` settings are. Parsing is
pure (`settings(text, path, env)`); `load()` only finds and reads the file."""
from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass, field

from remediation.errors import InputError

# setting -> (ansible.cfg section, key, environment variable, kind)
SETTINGS = {
    "inventory": ("defaults", "inventory", "ANSIBLE_INVENTORY", "pathlist"),
    "remote_user": ("defaults", "remote_user", "ANSIBLE_REMOTE_USER", "str"),
    "remote_port": ("defaults", "remote_port", "ANSIBLE_REMOTE_PORT", "int"),
    "private_key_file": ("defaults", "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE", "path"),
    "host_key_checking": ("defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING", "bool"),
    "ssh_args": ("ssh_connection", "ssh_args", "ANSIBLE_SSH_ARGS", "str"),
    "ssh_common_args": ("ssh_connection", "ssh_common_args", "ANSIBLE_SSH_COMMON_ARGS", "str"),
    "ssh_extra_args": ("ssh_connection", "ssh_extra_args", "ANSIBLE_SSH_EXTRA_ARGS", "str"),
}
TRUE = ("y", "yes", "on", "1", "true", "t")  # Ansible's boolean(): anything else is False


@dataclass(frozen=True)
class AnsibleSettings:
    config_file: str | None = None
    values: dict = field(default_factory=dict)     # setting -> value, only the ones set
    sources: dict = field(default_factory=dict)    # setting -> "ANSIBLE_X" or "path/ansible.cfg"

    def get(self, name: str, default=None):
        return self.values.get(name, default)


def config_file(env: dict, cwd: str) -> str | None:
    """The ansible.cfg Ansible would read (None: none)."""
    given = env.get("ANSIBLE_CONFIG")
    if given:
        given = os.path.expanduser(given)
        path = os.path.join(given, "ansible.cfg") if os.path.isdir(given) else given
        if os.path.exists(path):
            return path
    here = os.path.join(cwd, "ansible.cfg")
    try:
        writable = bool(os.stat(cwd).st_mode & stat.S_IWOTH)
    except OSError:
        writable = True
    if not writable and os.path.exists(here):
        return here
    for path in (os.path.expanduser("~/.ansible.cfg"), "/etc/ansible/ansible.cfg"):
        if os.path.exists(path):
            return path
    return None


def _convert(name: str, kind: str, raw: str, base: str | None, where: str):
    value = raw.strip()
    if kind == "bool":
        return value.lower() in TRUE
    if kind == "int":
        if not value.isdigit():
            raise InputError(f"{name} must be a number, not {raw!r}", where)
        return int(value)
    if kind == "path":
        return _path(value, base)
    if kind == "pathlist":
        return [_path(part.strip(), base) for part in value.split(",") if part.strip()]
    return value


def _path(value: str, base: str | None) -> str:
    value = os.path.expanduser(os.path.expandvars(value))
    return value if os.path.isabs(value) or base is None else os.path.normpath(os.path.join(base, value))


def settings(text: str | None, path: str | None, env: dict, cwd: str) -> AnsibleSettings:
    """The settings from the environment (which wins) and the config file's text."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",), strict=False)
    if text is not None:
        try:
            parser.read_string(text, source=path or "ansible.cfg")
        except configparser.Error as exc:
            raise InputError(f"cannot read the Ansible config: {exc.message.splitlines()[0]}", path) from None
    base = os.path.dirname(os.path.abspath(path)) if path else None
    values: dict = {}
    sources: dict[str, str | None] = {}
    for name, (section, key, var, kind) in SETTINGS.items():
        if env.get(var) not in (None, ""):
            values[name] = _convert(name, kind, env[var], cwd, var)
            sources[name] = var
        elif parser.has_option(section, key):
            values[name] = _convert(name, kind, parser.get(section, key), base, f"{path} [{section}] {key}")
            sources[name] = path
    return AnsibleSettings(path, values, sources)


def load(env: dict | None = None, cwd: str | None = None) -> AnsibleSettings:
    env = dict(os.environ if env is None else env)
    here = cwd or os.getcwd()
    path = config_file(env, here)
    text = None
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the Ansible config: {getattr(exc, 'strerror', None) or exc}", path) from None
    return settings(text, path, env, here)
