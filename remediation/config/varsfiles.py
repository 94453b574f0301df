"""group_vars/ and host_vars/ beside an inventory source, found as Ansible's host_group_vars
plugin finds them: `group_vars/NAME` as a file (no extension, .yml, .yaml or .json, the first
that exists) or a directory (every file in it, recursively, sorted; hidden and `~` files
skipped; no extension or .yml/.yaml/.json)."""
from __future__ import annotations

import os
from pathlib import Path

from remediation.config import ansible_bridge, yamlio
from remediation.errors import InputError

EXTENSIONS = ("", ".yml", ".yaml", ".json")
# The key under which a vars file that cannot be read stands in a host's vars: the InputError
# that says why, raised only if that host is selected (a vaulted file with no vault password).
UNREADABLE = "\0unreadable vars file"


def base_dir(source: Path) -> Path:
    """Where a source's group_vars/host_vars live: the directory itself, or the file's directory."""
    return source if source.is_dir() else source.parent


def find(directory: Path, name: str) -> list[Path]:
    for ext in EXTENSIONS:
        candidate = directory / (name + ext)
        if candidate.is_dir():
            return _dir_files(candidate)
        if candidate.exists():
            return [candidate]
    return []


def _dir_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full = directory / entry
        ext = os.path.splitext(entry)[1]
        if full.is_dir() and not ext:
            found += _dir_files(full)
        elif full.is_file() and (not ext or ext in EXTENSIONS):
            found.append(full)
    return found


def load(path: Path, duplicates: list[str] | None = None) -> tuple[dict, dict]:
    """One vars file: its mapping and each key's (path, line). A vault-encrypted file is decrypted
    with ansible-vault (the vault password as Ansible finds it); where it cannot be, the file
    stands as UNREADABLE with the reason, for the hosts that would read it."""
    try:
        head = path.read_bytes()[:14]
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(path)) from None
    if head.startswith(b"$ANSIBLE_VAULT"):
        try:
            data = yamlio.load(ansible_bridge.decrypt_file(path), str(path), duplicates)
        except InputError as exc:
            return {UNREADABLE: InputError(f"a vault-encrypted vars file: {exc}", str(path), 1)}, {}
    else:
        data = yamlio.load_file(path, duplicates)  # JSON is YAML
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise InputError(f"a vars file must be a mapping, not {yamlio.kind(data)}", str(path), 1)
    for key in data:
        if not isinstance(key, str) or not key:
            raise InputError(f"variable names must be non-empty strings, not {key!r}", str(path),
                             yamlio.line_of(data, key))
    return dict(data), {k: (str(path), yamlio.line_of(data, k)) for k in data}


def layer(source: Path, groups: list[str], hosts: list[str],
          duplicates: list[str] | None = None) -> tuple[dict, dict]:
    """For one source: group name -> [(vars, origins)], host name -> [(vars, origins)]."""
    base = base_dir(source)
    out_groups: dict[str, list] = {}
    out_hosts: dict[str, list] = {}
    for kind, names, out in (("group_vars", groups, out_groups), ("host_vars", hosts, out_hosts)):
        directory = base / kind
        if not directory.is_dir():
            continue
        for name in names:
            files = find(directory, name)
            if files:
                out[name] = [load(f, duplicates) for f in files]
    return out_groups, out_hosts


def unknown_entries(source: Path, groups: set[str], hosts: set[str]) -> list[str]:
    """group_vars/host_vars entries that name no group or host (a typo is otherwise silent)."""
    base = base_dir(source)
    lines = []
    for kind, names in (("group_vars", groups), ("host_vars", hosts)):
        directory = base / kind
        if not directory.is_dir():
            continue
        for entry in sorted(os.listdir(directory)):
            if entry.startswith(".") or entry.endswith("~"):
                continue
            stem, ext = os.path.splitext(entry)
            name = stem if ext in EXTENSIONS[1:] else entry
            if name not in names:
                lines.append(f"{directory / entry}: {kind} entry names no {kind.split('_')[0]} of the inventory")
    return lines
