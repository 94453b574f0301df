"""Ansible's own settings for the inventory and the login, read as Ansible reads them:
`ansible-config dump` (ansible-core) is the oracle for every case."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from remediation.config import ansible_cfg
from remediation.config.inventory import load_inventory

ANSIBLE_CONFIG_BIN = Path(sys.executable).with_name("ansible-config")
# our setting -> (ansible-config dump's name, plugin type or None for the base settings)
ORACLE_NAMES = {"inventory": ("DEFAULT_HOST_LIST", None), "remote_user": ("DEFAULT_REMOTE_USER", None),
                "remote_port": ("DEFAULT_REMOTE_PORT", None), "private_key_file": ("DEFAULT_PRIVATE_KEY_FILE", None),
                "host_key_checking": ("HOST_KEY_CHECKING", None), "ssh_args": ("ssh_args", "ssh"),
                "ssh_common_args": ("ssh_common_args", "ssh"), "ssh_extra_args": ("ssh_extra_args", "ssh")}


def oracle(env: dict, cwd: Path) -> dict:
    """What ansible-config says is set (not defaulted), by our setting names."""
    def dump(*extra):
        done = subprocess.run([str(ANSIBLE_CONFIG_BIN), "dump", "--format", "json", *extra], capture_output=True,
                              text=True, env=env, cwd=cwd, check=True, stdin=subprocess.DEVNULL)
        return json.loads(done.stdout)

    base = {e["name"]: e for e in dump() if "name" in e}
    ssh = {}
    for block in dump("-t", "connection"):
        for plugin, entries in block.items():
            if plugin.split()[0] == "ssh":
                ssh = {e["name"]: e for e in entries}
    out = {}
    for ours, (name, plugin) in ORACLE_NAMES.items():
        entry = (ssh if plugin else base).get(name)
        if entry and entry["origin"] != "default":
            out[ours] = entry["value"]
    return out


CFG = """\
[defaults]
inventory = inv/hosts.yml, other
remote_user = deploy
private_key_file = keys/id_ed25519
host_key_checking = False
remote_port = 2202
[ssh_connection]
ssh_args = -C -o ControlMaster=no
ssh_common_args = -o ProxyJump=bastion
ssh_extra_args = -o ServerAliveInterval=5
"""


def env_for(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"), **extra)
    return env


@pytest.fixture
def place(tmp_path):
    if not ANSIBLE_CONFIG_BIN.exists():
        pytest.skip("ansible-core is not installed beside the tests' python")
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    os.chmod(project, 0o755)
    (tmp_path / "home").mkdir()
    return tmp_path, project


@pytest.mark.parametrize("case", ["cwd", "ansible_config", "ansible_config_dir", "env_overrides",
                                  "world_writable_cwd", "home_file", "none"])
def test_settings_as_ansible_config_reports_them(place, case, monkeypatch):
    root, project = place
    home = root / "home"
    env = env_for(home)
    if case == "cwd":
        (project / "ansible.cfg").write_text(CFG)
    elif case == "ansible_config":
        (root / "elsewhere.cfg").write_text(CFG)
        env["ANSIBLE_CONFIG"] = str(root / "elsewhere.cfg")
    elif case == "ansible_config_dir":
        (root / "cfgdir").mkdir()
        (root / "cfgdir" / "ansible.cfg").write_text(CFG)
        env["ANSIBLE_CONFIG"] = str(root / "cfgdir")
    elif case == "env_overrides":
        (project / "ansible.cfg").write_text(CFG)
        env.update(ANSIBLE_INVENTORY="from-env.yml,/abs/two", ANSIBLE_REMOTE_USER="envuser",
                   ANSIBLE_HOST_KEY_CHECKING="yes", ANSIBLE_SSH_COMMON_ARGS="-o ProxyJump=other")
    elif case == "world_writable_cwd":
        (project / "ansible.cfg").write_text(CFG)
        os.chmod(project, 0o777)  # Ansible ignores a config in a directory anyone can write
    elif case == "home_file":
        (home / ".ansible.cfg").write_text(CFG)
    if os.path.exists("/etc/ansible/ansible.cfg") and case in ("world_writable_cwd", "none"):
        pytest.skip("this machine has /etc/ansible/ansible.cfg")
    monkeypatch.setenv("HOME", str(home))
    ours = ansible_cfg.load(env, str(project))
    assert ours.values == oracle(env, project)
    if case not in ("none", "world_writable_cwd"):
        assert ours.values  # the case set something, so the comparison could fail
    else:
        assert not ours.values


def test_the_hosts_login_takes_ansible_cfg_below_the_inventory_vars(place, monkeypatch):
    root, project = place
    (project / "ansible.cfg").write_text(CFG)
    (project / "hosts").write_text("web1\nweb2 ansible_user=root ansible_ssh_common_args='-o ProxyJump=none'\n")
    settings = ansible_cfg.load(env_for(root / "home"), str(project))
    inv = load_inventory(project / "hosts", settings)
    web1, web2 = inv.host("web1").ssh_target(), inv.host("web2").ssh_target()
    assert (web1.user, web1.port, web1.key_file, web1.host_key_checking) == (
        "deploy", 2202, str(project / "keys" / "id_ed25519"), False)
    assert web1.ssh_args == "-C -o ControlMaster=no -o ProxyJump=bastion -o ServerAliveInterval=5"
    assert (web2.user, web2.ssh_args) == ("root", "-C -o ControlMaster=no -o ProxyJump=none -o ServerAliveInterval=5")
