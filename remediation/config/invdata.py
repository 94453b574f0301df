"""Inventory data as Ansible keeps it (pure): groups with their own vars, child groups and
direct hosts; hosts with their own vars; depth and priority; every value with where it was set.

Precedence, as Ansible's VariableManager applies it with the default settings:
  `all`'s vars < other groups' vars (sorted by depth, ansible_group_priority, name) <
  group_vars/all files < group_vars/<group> files (per source, in source order) <
  the host's own vars < host_vars/<host> files.
Dict values replace, they do not merge (hash_behaviour=replace)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediation.errors import InputError

Origin = tuple  # (path, line or None)


@dataclass
class GroupData:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    priority: int = 1


@dataclass
class HostData:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct groups, in the order added
    source: str | None = None  # the file that first named the host (Ansible's inventory_file)


class InventoryData:
    def __init__(self) -> None:
        self.groups: dict[str, GroupData] = {}
        self.hosts: dict[str, HostData] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    def add_group(self, name: str) -> GroupData:
        if name not in self.groups:
            self.groups[name] = GroupData(name)
        return self.groups[name]

    def add_host(self, name: str, group: str | None = None, port: int | None = None,
                 origin: Origin = (None, None)) -> HostData:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostData(name, source=origin[0])
            if port is not None:
                self.set_host_var(name, "ansible_port", port, origin)
        if group is not None:
            g = self.add_group(group)
            if name not in g.hosts:
                g.hosts.append(name)
            if group not in host.groups:
                host.groups.append(group)
        return host

    def ancestors(self, group: str) -> list[str]:
        seen: list[str] = []
        todo = list(self.groups[group].parents)
        while todo:
            g = todo.pop(0)
            if g not in seen:
                seen.append(g)
                todo += self.groups[g].parents
        return seen

    def add_child(self, parent: str, child: str, origin: Origin = (None, None)) -> None:
        p, c = self.add_group(parent), self.add_group(child)
        if parent == child or child in self.ancestors(parent):
            raise InputError(f"group {child!r} contains itself (through {parent!r})", *origin)
        if child not in p.children:
            p.children.append(child)
        if parent not in c.parents:
            c.parents.append(parent)

    def set_group_var(self, group: str, key: str, value: Any, origin: Origin = (None, None)) -> None:
        g = self.add_group(group)
        if key == "ansible_group_priority":
            try:
                g.priority = int(value)
            except (TypeError, ValueError):
                raise InputError(f"group {group}: ansible_group_priority must be a number, not {value!r}",
                                 *origin) from None
            return
        g.vars[key] = value
        g.origins[key] = origin

    def set_host_var(self, host: str, key: str, value: Any, origin: Origin = (None, None)) -> None:
        h = self.hosts[host]
        h.vars[key] = value
        h.origins[key] = origin

    def reconcile(self) -> None:
        """Ansible's rules once every source is read: a group without a parent is a child of `all`,
        a host in no group but `all` is in `ungrouped` (and only there while it has no other)."""
        for name in list(self.groups):
            if name != "all" and not self.groups[name].parents:
                self.add_child("all", name)
        ungrouped = self.groups["ungrouped"]
        for name, host in self.hosts.items():
            mine = self.host_groups(name)
            if "ungrouped" in mine:
                if set(mine) - {"all", "ungrouped"} and name in ungrouped.hosts:
                    ungrouped.hosts.remove(name)
                    host.groups.remove("ungrouped")
            elif not set(mine) - {"all"}:
                self.add_host(name, "ungrouped")

    def depth(self, group: str, _memo: dict | None = None) -> int:
        memo = {} if _memo is None else _memo
        if group not in memo:
            parents = self.groups[group].parents
            memo[group] = 0 if not parents else 1 + max(self.depth(p, memo) for p in parents)
        return memo[group]

    def host_groups(self, host: str) -> list[str]:
        """A host's groups: the ones it is listed in, and all their ancestors."""
        out: list[str] = []
        for g in self.hosts[host].groups:
            for name in [g, *self.ancestors(g)]:
                if name not in out:
                    out.append(name)
        return out

    def sorted_groups(self, host: str) -> list[str]:
        """The host's groups but `all`, in Ansible's merge order (depth, priority, name)."""
        memo: dict = {}
        names = [g for g in self.host_groups(host) if g != "all"]
        return sorted(names, key=lambda g: (self.depth(g, memo), self.groups[g].priority, g))

    def group_hosts(self, group: str) -> list[str]:
        """Every host of a group and its descendants (Ansible's Group.get_hosts), first seen first."""
        out: list[str] = []
        seen_groups: list[str] = []
        todo = [group]
        while todo:
            g = todo.pop(0)
            if g in seen_groups:
                continue
            seen_groups.append(g)
            out += [h for h in self.groups[g].hosts if h not in out]
            todo += self.groups[g].children
        return out


@dataclass
class VarsLayer:
    """Vars from group_vars/host_vars files, by entity, per source (in source order)."""
    groups: list[dict[str, list[tuple[dict, dict]]]] = field(default_factory=list)  # per source: name -> [(vars, origins)]
    hosts: list[dict[str, list[tuple[dict, dict]]]] = field(default_factory=list)


def resolve(data: InventoryData, files: VarsLayer) -> dict[str, tuple[dict, dict]]:
    """Each host's merged vars and, for each var, where its winning value was set."""
    out = {}
    for name, host in data.hosts.items():
        merged: dict[str, Any] = {}
        origins: dict[str, Origin] = {}

        def take(values: dict, where: dict) -> None:  # called in this iteration only
            merged.update(values)  # noqa: B023
            origins.update({k: where.get(k, (None, None)) for k in values})  # noqa: B023

        take(data.groups["all"].vars, data.groups["all"].origins)
        order = data.sorted_groups(name)
        for g in order:
            take(data.groups[g].vars, data.groups[g].origins)
        for per_source in files.groups:
            for values, where in per_source.get("all", []):
                take(values, where)
        for per_source in files.groups:
            for g in order:
                for values, where in per_source.get(g, []):
                    take(values, where)
        take(host.vars, host.origins)
        for per_source in files.hosts:
            for values, where in per_source.get(name, []):
                take(values, where)
        out[name] = (merged, origins)
    return out
