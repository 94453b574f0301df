"""Hand-written inventories in the shapes Ansible shops use (tests/inventories/*: sources.txt
names the -i sources, patterns.txt the --limit patterns), compared with ansible-core; the
oracle itself is checked against the real `ansible-inventory --list` and `ansible --list-hosts`."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_diff import ansible_available, compare, oracle, ours  # noqa: F401  (oracle is a fixture)
from remediation.config import ansible_bridge
from remediation.config.inventory import load_inventory
from remediation.errors import InputError

LAYOUTS = Path(__file__).parent / "inventories"
NAMES = sorted(p.name for p in LAYOUTS.iterdir() if (p / "sources.txt").exists())


def layout(name: str) -> tuple[list[str], list[str]]:
    base = LAYOUTS / name
    sources = [str(base / s) for s in (base / "sources.txt").read_text().split()]
    pats = [p for p in (base / "patterns.txt").read_text().splitlines() if p.strip()]
    return sources, pats


@pytest.mark.parametrize("name", NAMES)
def test_layout_reads_as_ansible_reads_it(oracle, name):  # noqa: F811
    sources, pats = layout(name)
    theirs = oracle.ask(sources, pats)
    assert "error" not in theirs, theirs
    compare(ours(sources, pats), theirs, name)


def test_children_defined_elsewhere_keep_their_hosts_for_exclusions():
    sources, _ = layout("elsewhere")
    inv = load_inventory([Path(s) for s in sources])
    assert [h.name for h in inv.select("all:!prod")] == ["stage1"]
    assert inv.host("prod1").vars["wave"] == 0 and inv.host("prod2").vars["remediation_db_group"] == "prod"


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@pytest.mark.parametrize("name", ["k8s-ini", "envs"])
def test_oracle_agrees_with_the_real_ansible_commands(oracle, name, tmp_path):  # noqa: F811
    sources, pats = layout(name)
    argv_i = [a for s in sources for a in ("-i", s)]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    listed = json.loads(subprocess.run([_venv_tool("ansible-inventory"), *argv_i, "--list"], capture_output=True,
                                       text=True, check=True, cwd=tmp_path, env=env).stdout)
    theirs = oracle.ask(sources, pats[:2])
    for host, values in listed["_meta"]["hostvars"].items():
        assert theirs["hosts"][host] == values
    assert set(theirs["hosts"]) == set(listed["_meta"]["hostvars"]) | {
        h for g, body in listed.items() if g != "_meta" for h in body.get("hosts", [])}
    for pattern in pats[:2]:
        out = subprocess.run([_venv_tool("ansible"), *argv_i, pattern, "--list-hosts"], capture_output=True,
                             text=True, check=True, cwd=tmp_path, env=env).stdout
        hosts = sorted(line.strip() for line in out.splitlines()[1:] if line.strip())
        assert hosts == sorted(theirs["patterns"][pattern])


def test_limit_from_a_retry_file(tmp_path):
    sources, _ = layout("k8s-ini")
    inv = load_inventory([Path(s) for s in sources])
    retry = tmp_path / "site.retry"
    retry.write_text("node-2\ncp-1\n\n")
    assert sorted(h.name for h in inv.select(f"@{retry}")) == ["cp-1", "node-2"]
    with pytest.raises(InputError, match="limit file not found"):
        inv.select(f"@{tmp_path / 'none.retry'}")


# --- sources only Ansible reads ---------------------------------------------------------------

needs_ansible = pytest.mark.skipif(not ansible_available(), reason="ansible-core is not installed")


@needs_ansible
def test_executable_inventory_script_comes_through_ansible_inventory(oracle, tmp_path):  # noqa: F811
    script = tmp_path / "dynamic.py"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        if "--host" in sys.argv:
            print("{{}}")
        else:
            print(json.dumps({{"web": {{"hosts": ["d1", "d2"], "vars": {{"tier": "web"}}}},
                               "_meta": {{"hostvars": {{"d1": {{"ansible_host": "10.9.0.1"}}}}}}}}))
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    inv = load_inventory(script)
    assert sorted(inv.hosts) == ["d1", "d2"]
    assert inv.host("d1").vars == {"ansible_host": "10.9.0.1", "tier": "web"}
    compare(ours([str(script)], ["web"]), oracle.ask([str(script)], ["web"]), "dynamic")


@needs_ansible
def test_vault_value_is_decrypted_through_ansible(tmp_path, monkeypatch):
    password = tmp_path / "vault-pass"
    password.write_text("s3cret\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    out = subprocess.run([_venv_tool("ansible-vault"), "encrypt_string", "deployer", "--name", "ansible_user"],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    inv_file = tmp_path / "inv.yml"
    inv_file.write_text("all:\n  hosts:\n    v1:\n" + textwrap.indent(out, "      "))
    inv = load_inventory(inv_file)
    assert inv.host("v1").vars["ansible_user"] == "deployer"
    assert inv.host("v1").ssh_target().user == "deployer"


def test_vault_without_ansible_is_one_line_naming_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(ansible_bridge, "_tool", lambda name: None)
    inv_file = tmp_path / "inv.yml"
    inv_file.write_text("all:\n  hosts:\n    v1:\n      ansible_user: !vault |\n"
                        "        $ANSIBLE_VAULT;1.1;AES256\n        6162\n")
    with pytest.raises(InputError) as info:
        load_inventory(inv_file)
    assert "pip install ansible-core" in str(info.value) and str(inv_file) in str(info.value)
    assert "\n" not in str(info.value)


def test_plugin_config_without_ansible_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(ansible_bridge, "_tool", lambda name: None)
    cfg = tmp_path / "aws_ec2.yml"
    cfg.write_text("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    with pytest.raises(InputError, match="inventory plugin config .*install ansible-core"):
        load_inventory(cfg)


@needs_ansible
def test_inventory_plugin_config_comes_through_ansible_inventory(tmp_path):
    cfg = tmp_path / "generated.yml"
    cfg.write_text(textwrap.dedent("""\
        plugin: ansible.builtin.generator
        hosts:
          name: "{{ operation }}-{{ application }}"
          parents:
            - name: "{{ application }}"
              vars:
                tier: "{{ application }}"
        layers:
          operation: [build, launch]
          application: [web, api]
        """))
    inv = load_inventory(cfg)
    assert sorted(inv.hosts) == ["build-api", "build-web", "launch-api", "launch-web"]
    assert sorted(inv.groups["web"]) == ["build-web", "launch-web"]
    assert inv.host("launch-api").vars["tier"] == "api"
    assert [h.name for h in inv.select("web:&~build")] == ["build-web"]
