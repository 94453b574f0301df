"""Inventories only Ansible can read (executable scripts, plugin configs, `!vault` values,
vault-encrypted vars files) come through `ansible-inventory --list` JSON; vaulted values the
tool reads are decrypted with `ansible-vault decrypt` (the vault password as Ansible finds it:
ANSIBLE_VAULT_PASSWORD_FILE or ansible.cfg). Where ansible-core is absent, one line says so."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from remediation.config.invdata import InventoryData
from remediation.errors import InputError

INSTALL = "install ansible-core (pip install ansible-core) so ansible-inventory can read it"


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name  # the same virtualenv first
    return str(beside) if beside.exists() else shutil.which(name)


def available() -> bool:
    return _tool("ansible-inventory") is not None


def _run(argv: list[str], what: str, stdin: str | None = None, timeout: float = 120,
         new_session: bool = False) -> str:
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "1", "ANSIBLE_NOCOLOR": "1"}
    with tempfile.TemporaryDirectory() as cwd:  # no play-adjacent group_vars from the caller's directory
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                                  env=env, stdin=None if stdin is not None else subprocess.DEVNULL,
                                  start_new_session=new_session)  # no terminal to prompt on
        except subprocess.TimeoutExpired:
            raise InputError(f"{what}: timed out after {timeout:.0f}s") from None
        except OSError as exc:
            raise InputError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
        raise InputError(f"{what} failed: {(lines or done.stderr.splitlines() or ['no output'])[-1].strip()[:300]}")
    return done.stdout


def read(sources: list[Path], why: str) -> tuple[InventoryData, dict]:
    """The whole inventory as ansible-inventory computes it: groups, hosts, final host vars."""
    tool = _tool("ansible-inventory")
    if tool is None:
        raise InputError(f"{why}: {INSTALL}", str(sources[0]))
    argv = [tool]
    for source in sources:
        argv += ["-i", str(source.resolve())]
    text = _run(argv + ["--list"], f"ansible-inventory ({why})")
    try:
        data = json.loads(text)
    except ValueError:
        raise InputError("ansible-inventory printed no JSON", str(sources[0])) from None
    return from_json(data, " ".join(map(str, sources)))


def from_json(data: dict, where: str) -> tuple[InventoryData, dict]:
    """ansible-inventory --list JSON -> InventoryData (host vars are already merged)."""
    inv = InventoryData()
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    for name, body in data.items():
        if name == "_meta" or not isinstance(body, dict):
            continue
        inv.add_group(name)
    for name, body in data.items():
        if name == "_meta" or not isinstance(body, dict):
            continue
        for child in body.get("children") or []:
            inv.add_child(name, child)
        for host in body.get("hosts") or []:
            inv.add_host(host, name)
        for key, value in (body.get("vars") or {}).items():
            inv.set_group_var(name, key, value, (where, None))
    for host, values in hostvars.items():
        inv.add_host(host)
        for key, value in values.items():
            inv.set_host_var(host, key, value, (where, None))
    inv.reconcile()
    return inv, hostvars


def is_vaulted(value) -> bool:
    return isinstance(value, dict) and set(value) == {"__ansible_vault"}


def decrypt(value: dict, what: str) -> str:
    tool = _tool("ansible-vault")
    if tool is None:
        raise InputError(f"{what} is vault-encrypted: install ansible-core (pip install ansible-core)")
    return _run([tool, "decrypt", "--output", "-", "-"], f"ansible-vault decrypt of {what}",
                stdin=value["__ansible_vault"])


def decrypt_file(path: Path) -> str:
    """A vault-encrypted file's text, decrypted by ansible-vault with the vault password as
    Ansible finds it (never prompted for: a run must not stop at a prompt)."""
    tool = _tool("ansible-vault")
    if tool is None:
        raise InputError(f"{path} is vault-encrypted: install ansible-core (pip install ansible-core)")
    return _run([tool, "decrypt", "--output", "-", str(Path(path).resolve())], "ansible-vault decrypt",
                new_session=True)
