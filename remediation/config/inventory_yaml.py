"""Ansible's YAML inventory format read into InventoryData (pure but for reading the file).

Groups are `name: {hosts, vars, children}` at any depth; hosts may be range patterns
(`web[01:10]`) with an optional `:port`; a group named under `children` and defined elsewhere
is the same group (its hosts and vars stay). Keys are handled in the order written, as
Ansible's yaml plugin does."""
from __future__ import annotations

from typing import Any

from remediation.config import hostrange, yamlio
from remediation.config.invdata import InventoryData
from remediation.errors import InputError

GROUP_KEYS = ("hosts", "vars", "children")


def _mapping(value: Any, path: str, where: str, line: int | None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"must be a mapping, not {yamlio.kind(value)}", path, line, where)
    return value


def is_plugin_config(data: Any) -> bool:
    return isinstance(data, dict) and "plugin" in data


def read(data: Any, path: str, inv: InventoryData) -> None:
    """Add one parsed YAML inventory document to `inv`."""
    if data is None:
        return
    data = _mapping(data, path, "inventory", 1)
    for name, body in data.items():
        _group(name, body, path, yamlio.line_of(data, name), inv, ())


def _group(name: Any, body: Any, path: str, line: int | None, inv: InventoryData, chain: tuple) -> str:
    if not isinstance(name, str) or not name:
        raise InputError(f"group names must be non-empty strings, not {name!r}", path, line)
    if name in chain:
        raise InputError(f"group {name!r} contains itself", path, line)
    body = _mapping(body, path, f"group {name}", line)
    inv.add_group(name)
    for key in body:
        if key not in GROUP_KEYS:
            raise InputError(f"unknown key in group {name!r} (expected hosts, vars, children)", path,
                             yamlio.line_of(body, key), key)
    for key, section in body.items():
        section_line = yamlio.line_of(body, key)
        if key in ("hosts", "children") and isinstance(section, str):
            section = {section: None}
        section = _mapping(section, path, f"{name}.{key}", section_line)
        if key == "vars":
            for var, value in section.items():
                _check_var_name(var, path, yamlio.line_of(section, var))
                inv.set_group_var(name, var, value, (path, yamlio.line_of(section, var)))
        elif key == "children":
            for child, child_body in section.items():
                child_line = yamlio.line_of(section, child)
                _group(child, child_body, path, child_line, inv, (*chain, name))
                inv.add_child(name, child, (path, child_line))
        else:
            for pattern, host_vars in section.items():
                host_line = yamlio.line_of(section, pattern)
                if not isinstance(pattern, str) or not pattern:
                    raise InputError("host names must be non-empty strings", path, host_line)
                host_vars = _mapping(host_vars, path, f"host {pattern}", host_line)
                base, port = hostrange.split_port(pattern)
                for host in hostrange.expand(base, path, host_line):
                    inv.add_host(host, name, port, (path, host_line))
                    for var, value in host_vars.items():
                        _check_var_name(var, path, yamlio.line_of(host_vars, var))
                        inv.set_host_var(host, var, value, (path, yamlio.line_of(host_vars, var)))
    return name


def _check_var_name(var: Any, path: str, line: int | None) -> None:
    if not isinstance(var, str) or not var:
        raise InputError(f"variable names must be non-empty strings, not {var!r}", path, line)
