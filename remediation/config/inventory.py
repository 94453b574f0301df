"""Ansible-style YAML inventories: hosts, groups, vars, and `--limit` patterns.

Supports the parts of Ansible's YAML inventory format a remediation needs: `all`,
`hosts`, `vars`, `children` (nested), host entries with variables (`ansible_host`,
`ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`) plus this tool's own
`remediation_*` variables. A directory is read as the union of its top-level YAML files.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediation.config import yamlio
from remediation.errors import InputError
from remediation.config.hostvars import check_path_vars, check_verify_path
from remediation.transport.ssh import SshTarget

GROUP_KEYS = {"hosts", "vars", "children"}


@dataclass
class Host:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host", self.name))

    def ssh_target(self) -> SshTarget:
        port = self.vars.get("ansible_port", 22)
        if isinstance(port, bool) or not str(port).isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"host {self.name}: must be a port number, not {port!r}", key="ansible_port")
        return SshTarget(
            name=self.name, address=self.address, port=int(port),
            user=str(self.vars.get("ansible_user", "root")),
            key_file=self.vars.get("ansible_ssh_private_key_file"),
            known_hosts=self.vars.get("remediation_known_hosts_file"),
        )


@dataclass
class Inventory:
    hosts: dict[str, Host] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> host names (recursive)
    sources: list[str] = field(default_factory=list)

    def host(self, name: str) -> Host:
        if name not in self.hosts:
            known = ", ".join(sorted(self.hosts)[:10]) or "none"
            raise InputError(f"unknown host {name!r} (inventory has: {known})", " ".join(self.sources))
        return self.hosts[name]

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible --limit pattern: names, groups, globs, `a:b`, `a:&b`, `a:!b`.

        As in Ansible, unions are applied first, then intersections, then exclusions (so
        `!lab3:web` is `web:!lab3`), and a pattern of only `&`/`!` terms starts from `all`."""
        selected: list[str] = []
        parts = [p.strip() for p in pattern.replace(",", ":").split(":") if p.strip()]
        if not parts:
            raise InputError(f"empty host pattern {pattern!r}")
        unions = [p for p in parts if p[0] not in "!&"] or ["all"]
        parts = unions + [p for p in parts if p[0] == "&"] + [p for p in parts if p[0] == "!"]
        for part in parts:
            if part.startswith("!"):
                drop = set(self._match(part[1:]))
                selected = [h for h in selected if h not in drop]
            elif part.startswith("&"):
                keep = set(self._match(part[1:]))
                selected = [h for h in selected if h in keep]
            else:
                selected += [h for h in self._match(part) if h not in selected]
        if not selected:
            raise InputError(f"pattern {pattern!r} matches no host", " ".join(self.sources))
        return [self.hosts[h] for h in selected]

    def _match(self, term: str) -> list[str]:
        if term == "all":
            return list(self.hosts)
        if term in self.groups:
            return list(self.groups[term])
        if term in self.hosts:
            return [term]
        if any(ch in term for ch in "*?["):
            names = [h for h in self.hosts if fnmatch.fnmatchcase(h, term)]
            for group in self.groups:
                if fnmatch.fnmatchcase(group, term):
                    names += [h for h in self.groups[group] if h not in names]
            return names
        raise InputError(f"no host or group named {term!r}", " ".join(self.sources))


def _check_mapping(value: Any, path: str, where: str, line: int | None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"must be a mapping, not {yamlio.kind(value)}", path, line, where)
    return value


class _Collector:
    """Gathers every host's vars by origin, so precedence is applied once at the end."""

    def __init__(self, inv: Inventory):
        self.inv = inv
        self.group_vars: dict[str, list[tuple[int, str, int, dict]]] = {}  # host -> (depth, name, order, vars)
        self.all_vars: list[dict] = []  # `all` applies to every host, whichever file lists it
        self.host_vars: dict[str, dict] = {}
        self.order = 0

    def walk(self, name: str, body: Any, path: str, line: int | None, chain: tuple[str, ...]) -> list[str]:
        if not isinstance(name, str) or not name:
            raise InputError(f"group names must be non-empty strings, not {name!r}", path, line)
        if name in chain:
            raise InputError(f"group {name!r} contains itself", path, line)
        body = _check_mapping(body, path, f"group {name}", line)
        unknown = set(body) - GROUP_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise InputError(f"unknown key in group {name!r} (expected hosts, vars, children)", path,
                             yamlio.line_of(body, key), key)
        own_vars = _check_mapping(body.get("vars"), path, f"{name}.vars", yamlio.line_of(body, "vars"))
        members: list[str] = []
        hosts = _check_mapping(body.get("hosts"), path, f"{name}.hosts", yamlio.line_of(body, "hosts"))
        for host_name, host_vars in hosts.items():
            host_line = yamlio.line_of(hosts, host_name)
            if not isinstance(host_name, str) or not host_name:
                raise InputError("host names must be non-empty strings", path, host_line)
            host_vars = _check_mapping(host_vars, path, f"host {host_name}", host_line)
            host = self.inv.hosts.setdefault(host_name, Host(host_name))
            self.host_vars.setdefault(host_name, {}).update(host_vars)
            if name not in host.groups:
                host.groups.append(name)
            members.append(host_name)
        children = _check_mapping(body.get("children"), path, f"{name}.children", yamlio.line_of(body, "children"))
        for child, child_body in children.items():
            members += [h for h in self.walk(child, child_body, path, yamlio.line_of(children, child),
                                             (*chain, name)) if h not in members]
        self.order += 1
        if name == "all":
            self.all_vars.append(own_vars)
        else:
            for host_name in members:
                self.group_vars.setdefault(host_name, []).append((len(chain), name, self.order, own_vars))
        existing = self.inv.groups.setdefault(name, [])
        existing += [h for h in members if h not in existing]
        return members

    def resolve(self) -> None:
        """all < parent groups < child groups < host vars; groups at the same depth merge in
        name order, the later name winning (Ansible's order)."""
        for name, host in self.inv.hosts.items():
            merged: dict = {}
            for all_vars in self.all_vars:
                merged.update(all_vars)
            for *_key, group_vars in sorted(self.group_vars.get(name, []), key=lambda t: t[:3]):
                merged.update(group_vars)
            merged.update(self.host_vars.get(name, {}))
            host.vars = merged


def load_inventory(path: Path) -> Inventory:
    """Load a YAML inventory file, or every top-level *.yml/*.yaml file of a directory."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
        if not files:
            raise InputError("no inventory files (*.yml, *.yaml) in directory", str(path))
    elif path.exists():
        files = [path]
    else:
        raise InputError("inventory not found", str(path))
    inv = Inventory(sources=[str(f) for f in files])
    collector = _Collector(inv)
    for file in files:
        data = yamlio.load_file(file)
        if data is None:
            continue
        data = _check_mapping(data, str(file), "inventory", 1)
        for top, body in data.items():  # a top-level group other than `all` is a child of `all`
            collector.walk(top, body, str(file), yamlio.line_of(data, top), () if top == "all" else ("all",))
    if not inv.hosts:
        raise InputError("the inventory defines no hosts", " ".join(inv.sources))
    collector.resolve()
    for name, host in inv.hosts.items():
        check_path_vars(name, host.vars, " ".join(inv.sources))
        check_verify_path(name, host.vars, " ".join(inv.sources))
    inv.groups["all"] = list(inv.hosts)  # every host is in `all`, whichever file lists it
    return inv
