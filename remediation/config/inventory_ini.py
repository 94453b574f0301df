"""Ansible's INI inventory format read into InventoryData (pure: text in, data out).

`[group]` host lines (`web[01:03] ansible_port=2222 x=1`, values as Python literals where
they parse, else strings), `[group:vars]` `key=value` lines, `[group:children]` group names;
lines before any section are ungrouped hosts; `#` and `;` start comments."""
from __future__ import annotations

import ast
import re
import shlex
import warnings

from remediation.config import hostrange
from remediation.config.invdata import InventoryData
from remediation.errors import InputError

SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")


def parse_value(text: str):
    """A value as Ansible's INI plugin reads it: a Python literal where it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, (bytes, complex, set, frozenset)) or (
            isinstance(value, (list, tuple, dict)) and not _plain(value)):
        return text
    return list(value) if isinstance(value, tuple) else value


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, (str, int, float, bool)) or value is None


def read(text: str, path: str, inv: InventoryData) -> None:
    group, state = "ungrouped", "hosts"
    # As Ansible: [g:vars] needs g declared somewhere ([g] or [g:children]), and a group listed
    # under [p:children] must be declared too (here or in an earlier source).
    pending: dict[str, dict] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            m = SECTION.match(line)
            if not m:
                raise InputError(f"invalid section header {line!r} (expected [group], [group:vars] or "
                                 "[group:children])", path, number)
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "vars", "children"):
                raise InputError(f"section [{line[1:-1]}] has unknown type {state!r} (expected vars or children)",
                                 path, number)
            if group not in inv.groups:
                if state == "vars" and group not in pending:
                    pending[group] = {"state": "vars", "line": number}
                inv.add_group(group)
            if group in pending and state != "vars":
                decl = pending.pop(group)
                for parent in decl.get("parents", []):
                    inv.add_child(parent, group, (path, decl["line"]))
            continue
        if state == "hosts":
            _host_line(line, path, number, group, inv)
        elif state == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise InputError(f"expected key=value in [{group}:vars], not {line!r}", path, number)
            inv.set_group_var(group, key.strip(), parse_value(value.strip()), (path, number))
        else:
            m = GROUP_NAME.match(line)
            if not m:
                raise InputError(f"expected a group name in [{group}:children], not {line!r}", path, number)
            child = m.group(1)
            if child in inv.groups:
                inv.add_child(group, child, (path, number))
            else:
                decl = pending.setdefault(child, {"state": "children", "line": number, "parent": group,
                                                  "parents": []})
                decl.setdefault("parents", []).append(group)
    for name, decl in pending.items():
        if decl["state"] == "vars":
            raise InputError(f"section [{name}:vars] is for a group defined nowhere", path, decl["line"])
        raise InputError(f"section [{decl['parent']}:children] names group {name!r}, defined nowhere "
                         f"(add a [{name}] section)", path, decl["line"])


def _host_line(line: str, path: str, number: int, group: str, inv: InventoryData) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InputError(f"cannot split host line: {exc}", path, number) from None
    if not tokens:
        return
    base, port = hostrange.split_port(tokens[0])
    names = hostrange.expand(base, path, number)
    values = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise InputError(f"expected key=value host variable, not {token!r}", path, number)
        values[key] = parse_value(value)
    for name in names:
        inv.add_host(name, group, port, (path, number))
        for key, value in values.items():
            inv.set_host_var(name, key, value, (path, number))
