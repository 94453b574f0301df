"""Inventories as Ansible reads them: hosts, groups, vars, and `--limit` patterns.

One or more sources (files or directories, as several `-i`), each YAML or INI, with
group_vars/ and host_vars/ beside it; sources only Ansible can read (executable scripts,
plugin configs, `!vault` values) go through `ansible-inventory`. Parsing lives in
inventory_yaml / inventory_ini (text -> InventoryData), precedence in invdata, patterns in
patterns, var checks in hostvars; this module finds the files and puts them together.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from remediation import apps
from remediation.config import ansible_bridge, ansible_cfg, hostvars, inventory_ini, inventory_yaml, patterns, varsfiles, yamlio
from remediation.config.ansible_cfg import AnsibleSettings
from remediation.config.invdata import InventoryData, VarsLayer, resolve
from remediation import hooks
from remediation.errors import InputError
from remediation.config.hostvars import check_path_vars, check_verify_path
from remediation.transport.ssh import SshTarget

# As Ansible's defaults: files a directory source skips, and entries it never reads as inventory.
IGNORED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
IGNORED_NAMES = ("host_vars", "group_vars", "vars_plugins")
YAML_EXTENSIONS = (".yml", ".yaml", ".json")


@dataclass
class Host:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    origins: dict[str, tuple] = field(default_factory=dict, repr=False)
    problem: InputError | None = field(default=None, repr=False)  # why the tool cannot use it, said if selected
    ansible: AnsibleSettings = field(default_factory=AnsibleSettings, repr=False)  # ansible.cfg / ANSIBLE_*
    hooks: hooks.Hooks | None = field(default=None, repr=False)  # drain/ready, checked when the inventory was read

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host", self.vars.get("ansible_ssh_host", self.name)))

    def ssh_target(self) -> SshTarget:
        """Only what the inventory (and Ansible's own settings) say; ssh_config fills in the rest
        when connecting. The host's vars win over ansible.cfg and ANSIBLE_* as in Ansible."""
        v, cfg = self.vars, self.ansible
        port = v.get("ansible_port", v.get("ansible_ssh_port", cfg.get("remote_port")))
        if port is not None and (isinstance(port, bool) or not str(port).isdigit() or not 0 < int(port) < 65536):
            path, line = self.origins.get("ansible_port", (None, None))
            raise InputError(f"host {self.name}: must be a port number, not {port!r}", path, line, key="ansible_port")
        user = v.get("ansible_user", v.get("ansible_ssh_user", cfg.get("remote_user")))
        key = v.get("ansible_ssh_private_key_file", v.get("ansible_private_key_file", cfg.get("private_key_file")))
        args = " ".join(str(a) for a in (cfg.get("ssh_args"),
                                         v.get("ansible_ssh_common_args", cfg.get("ssh_common_args")),
                                         v.get("ansible_ssh_extra_args", cfg.get("ssh_extra_args"))) if a)
        checking = v.get("ansible_ssh_host_key_checking", v.get("ansible_host_key_checking"))
        if checking is None:
            checking = cfg.get("host_key_checking")
        return SshTarget(
            name=self.name, address=self.address, port=int(port) if port is not None else None,
            user=str(user) if user is not None else None, key_file=str(key) if key else None,
            known_hosts=v.get("remediation_known_hosts_file"), ssh_args=args,
            host_key_checking=None if checking is None else _truthy(checking),
        )

    @property
    def python(self) -> str:
        value = self.vars.get("ansible_python_interpreter")
        return value if isinstance(value, str) and value.startswith("/") else "python3"


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "yes", "true", "on")


@dataclass
class Inventory:
    hosts: dict[str, Host] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> host names (recursive)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    children: dict[str, list[str]] = field(default_factory=dict)

    def host(self, name: str) -> Host:
        if name not in self.hosts:
            known = ", ".join(sorted(self.hosts)[:10]) or "none"
            raise InputError(f"unknown host {name!r} (inventory has: {known})", " ".join(self.sources))
        return usable(self.hosts[name])

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible --limit pattern (see config.patterns); none is an error."""
        try:
            names = patterns.Matcher(list(self.hosts), self.groups).select(pattern)
        except InputError as exc:
            if exc.path:
                raise
            raise InputError(str(exc), " ".join(self.sources)) from None
        if not names:
            raise InputError(f"pattern {pattern!r} matches no host", " ".join(self.sources))
        return [usable(self.hosts[h]) for h in names]


def usable(host: Host) -> Host:
    """The host, or its one-line refusal: a host is judged only when it is selected, as Ansible
    judges only the hosts a play runs on (a `localhost ansible_connection=local` line, a vaulted
    group file or a Jinja var elsewhere in the inventory does not stop a run on other hosts)."""
    if host.problem is not None:
        raise host.problem
    return host


def _needs_ansible(path: Path) -> bool:
    return os.access(path, os.X_OK) and path.is_file()


def _files(source: Path) -> list[Path]:
    """The inventory files of one source: itself, or a directory's files (recursively, sorted)."""
    if source.is_dir():
        found: list[Path] = []
        for entry in sorted(os.listdir(source)):
            full = source / entry
            if entry.startswith(".") or entry in IGNORED_NAMES or entry.endswith(IGNORED_EXTENSIONS):
                continue
            found += _files(full) if full.is_dir() else [full]
        return found
    return [source]


def _read_file(path: Path, data: InventoryData, warnings: list[str]) -> str | None:
    """Read one file into `data`; returns why Ansible must read it instead (or None)."""
    if _needs_ansible(path):
        return "an executable inventory script"
    suffix = path.suffix
    if suffix in YAML_EXTENSIONS or not suffix:
        text = _read_text(path)
        try:
            parsed = yamlio.load(text, str(path), duplicates=warnings)
        except yamlio.VaultValue:
            return "a !vault value"
        except InputError:
            if suffix:
                raise
            parsed = None
            yaml_failed = True
        else:
            yaml_failed = False
        if inventory_yaml.is_plugin_config(parsed):
            return f"an inventory plugin config ({parsed['plugin']})"
        if suffix or (not yaml_failed and isinstance(parsed, dict)):
            inventory_yaml.read(parsed, str(path), data)
            return None
        inventory_ini.read(text, str(path), data)  # a file without extension that is not YAML: INI
        return None
    inventory_ini.read(_read_text(path), str(path), data)
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(path)) from None


def load_inventory(paths: Path | str | Iterable[Path | str], ansible: AnsibleSettings | None = None) -> Inventory:
    """Load one or more inventory sources (as several `-i`, later sources adding to earlier ones).
    `ansible`: Ansible's own settings for logging in (default: ansible.cfg and ANSIBLE_* as Ansible finds them)."""
    ansible = ansible_cfg.load() if ansible is None else ansible
    sources = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not sources:
        raise InputError("no inventory given")
    files: list[Path] = []
    per_source: list[tuple[Path, list[Path]]] = []
    for source in sources:
        if not source.exists():
            raise InputError("inventory not found", str(source))
        found = _files(source)
        if source.is_dir() and not found:
            raise InputError("no inventory files in directory", str(source))
        per_source.append((source, found))
        files += found
    data = InventoryData()
    why = None
    read_warnings: list[str] = []
    for file in files:
        why = _read_file(file, data, read_warnings) or why
        if why:
            break
    layer = VarsLayer()
    if not why:
        data.reconcile()
        try:
            for source, _found in per_source:
                g, h = varsfiles.layer(source, list(data.groups), list(data.hosts), read_warnings)
                layer.groups.append(g)
                layer.hosts.append(h)
        except yamlio.VaultValue as exc:
            if not ansible_bridge.available():
                raise InputError(f"{exc.args[0].split(': ', 1)[-1]}: {ansible_bridge.INSTALL}", exc.path,
                                 exc.line) from None
            why = "a vault-encrypted vars file"
    if why:  # ansible-inventory merges group_vars/host_vars itself
        data, _ = ansible_bridge.read(sources, why)
        layer = VarsLayer()
    inv = Inventory(sources=[str(f) for f in files] if not why else [str(s) for s in sources],
                    warnings=list(dict.fromkeys(read_warnings)))
    if not data.hosts:
        raise InputError("the inventory defines no hosts", " ".join(inv.sources))
    where = " ".join(inv.sources)
    for name, (values, origins) in resolve(data, layer).items():
        groups = [g for g in data.host_groups(name) if g != "all"]
        problem, warnings, checked_hooks = None, [], None
        try:
            unreadable = values.pop(varsfiles.UNREADABLE, None)
            if unreadable:
                raise unreadable
            values = _magic_vars(values, name, data.hosts[name].source)
            if why:
                values = _decrypt_read_vars(name, values)
            warnings = hostvars.check(name, values, origins)
            check_path_vars(name, values, where)
            check_verify_path(name, values, where)
            apps.check_vars(name, values, where)
            checked_hooks = hooks.check(name, values, origins)
        except InputError as exc:
            problem = exc
        inv.warnings += [w for w in warnings if w not in inv.warnings]
        inv.hosts[name] = Host(name, values, groups, origins, problem, ansible,
                               hooks=checked_hooks if problem is None else None)
    if not why:
        for source, _found in per_source:
            inv.warnings += varsfiles.unknown_entries(source, set(data.groups), set(data.hosts))
    inv.groups = {g: data.group_hosts(g) for g in data.groups}
    inv.children = {g: list(data.groups[g].children) for g in data.groups}
    return inv


MAGIC = re.compile(r"\{\{\s*(inventory_dir|inventory_file|inventory_hostname|inventory_hostname_short)\s*\}\}")


def _magic_vars(values: dict, host: str, source: str | None) -> dict:
    """Ansible's inventory magic vars in string values (`{{ inventory_dir }}/keys/id` in a key
    path), as Ansible fills them in: the file that first named the host, and the host's name.
    Any other Jinja is left as it is (and refused in a var this tool reads)."""
    if not source:
        known = {"inventory_hostname": host, "inventory_hostname_short": host.split(".")[0]}
    else:
        known = {"inventory_dir": os.path.dirname(os.path.abspath(source)), "inventory_file": os.path.abspath(source),
                 "inventory_hostname": host, "inventory_hostname_short": host.split(".")[0]}

    def fill(value):
        if not isinstance(value, str) or "{{" not in value:
            return value
        return MAGIC.sub(lambda m: known.get(m.group(1), m.group(0)), value)

    return {key: fill(value) for key, value in values.items()}


def _decrypt_read_vars(host: str, values: dict) -> dict:
    out = dict(values)
    for key, value in values.items():
        if ansible_bridge.is_vaulted(value) and (key in hostvars.ANSIBLE_READ or key in hostvars.REMEDIATION_VARS):
            out[key] = ansible_bridge.decrypt(value, f"host {host}: {key}")
    return out
