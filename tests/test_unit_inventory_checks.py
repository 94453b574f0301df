"""What the tool cannot honour in an inventory is refused or warned in one line naming the
file and line; INI and range errors likewise (pure, no Ansible needed)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from remediation.config import hostrange
from remediation.config.inventory import load_inventory
from remediation.errors import InputError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def refused(path) -> InputError:
    """The refusal, said when the host is selected (the inventory itself loads: other hosts run)."""
    inv = load_inventory(path)
    with pytest.raises(InputError) as info:
        inv.select("all")
    assert "\n" not in str(info.value)
    return info.value


def test_jinja_in_a_var_the_tool_reads_is_refused_with_file_and_line(tmp_path):
    p = write(tmp_path, "inv.yml", """\
        all:
          hosts:
            web1:
              ansible_host: "{{ lookup('env', 'IP') }}"
        """)
    err = refused(p)
    assert err.path == str(p) and err.line == 4 and err.key == "ansible_host" and "Jinja" in str(err)


def test_jinja_elsewhere_is_a_warning_with_file_and_line(tmp_path):
    p = write(tmp_path, "inv.ini", "[web]\nweb1 motd='{{ lookup(\"env\", \"X\") }}'\n")
    inv = load_inventory(p)
    assert inv.warnings == [f"{p}:2: motd: a Jinja value, not templated by this tool (not a var it reads)"]


def test_inventory_magic_vars_are_filled_in_as_ansible_does(tmp_path):
    (tmp_path / "inv").mkdir()
    p = write(tmp_path / "inv", "hosts.yml", """\
        all:
          vars:
            ansible_ssh_private_key_file: "{{ inventory_dir }}/keys/{{inventory_hostname_short}}"
          hosts:
            web1.example.com:
        """)
    host = load_inventory(tmp_path / "inv").host("web1.example.com")
    assert host.ssh_target().key_file == f"{tmp_path / 'inv'}/keys/web1"


def test_a_host_that_is_not_selected_is_not_judged(tmp_path):
    p = write(tmp_path, "hosts", """\
        localhost ansible_connection=local
        [web]
        web1 ansible_host=10.0.0.1
        [tools]
        tool1 ansible_python_interpreter="{{ ansible_playbook_python }}" ansible_become_user=postgres
        """)
    inv = load_inventory(p)
    assert [h.name for h in inv.select("web")] == ["web1"]
    with pytest.raises(InputError, match="connection 'local' is not supported"):
        inv.select("all")
    with pytest.raises(InputError, match="ansible_python_interpreter|Jinja"):
        inv.host("tool1")


def test_misspelled_remediation_var_is_refused_with_a_suggestion(tmp_path):
    p = write(tmp_path, "inv.yml", "all:\n  vars:\n    remediation_supervisor_progam: app\n  hosts: {web1: }\n")
    err = refused(p)
    assert err.line == 3 and "did you mean remediation_supervisor_program" in str(err)


def test_misspelled_remediation_var_in_group_vars_names_that_file(tmp_path):
    p = write(tmp_path, "inv.yml", "web:\n  hosts: {web1: }\n")
    (tmp_path / "group_vars").mkdir()
    gv = write(tmp_path / "group_vars", "web.yml", "tier: x\nremediation_app_prot: 80\n")
    err = refused(p)
    assert err.path == str(gv) and err.line == 2


def test_unknown_ansible_var_is_a_warning(tmp_path):
    p = write(tmp_path, "inv.ini", "web1 ansible_ssh_pipelining=True ansible_usr=deploy\n")
    inv = load_inventory(p)
    assert any("ansible_ssh_pipelining: not used by this tool" in w for w in inv.warnings)
    assert any("ansible_usr: not used by this tool (did you mean ansible_user?)" in w for w in inv.warnings)


@pytest.mark.parametrize("line, fragment", [
    ("web1 ansible_become_password=x", "passwordless sudo"),
    ("web1 ansible_password=x", "password login"),
    ("web1 ansible_connection=local", "connection 'local' is not supported"),
    ("web1 ansible_become_method=su", "become method"),
    ("web1 ansible_python_interpreter=python2", "absolute path"),
])
def test_vars_the_tool_cannot_honour_are_refused(tmp_path, line, fragment):
    p = write(tmp_path, "hosts", line + "\n")
    err = refused(p)
    assert fragment in str(err) and err.path == str(p) and err.line == 1


def test_python_interpreter_and_ssh_args_reach_the_connection(tmp_path):
    p = write(tmp_path, "inv.ini", "web1 ansible_python_interpreter=/opt/py/bin/python3 "
                                   "ansible_ssh_common_args='-o ProxyJump=jump@bastion:2222'\n")
    host = load_inventory(p).host("web1")
    assert host.python == "/opt/py/bin/python3"
    assert host.ssh_target().ssh_args == "-o ProxyJump=jump@bastion:2222"


def test_ini_directory_hosts_file_is_read(tmp_path):
    d = tmp_path / "inventory"
    d.mkdir()
    write(d, "hosts", "[web]\nweb[1:3] x=1\n[prod:children]\nweb\n")
    inv = load_inventory(d)
    assert [h.name for h in inv.select("prod")] == ["web1", "web2", "web3"]
    assert inv.host("web2").vars == {"x": 1}


@pytest.mark.parametrize("text, line, fragment", [
    ("[web\nh1\n", 1, "invalid section header"),
    ("[web:host]\nh1\n", 1, "unknown type"),
    ("[web:vars]\nx=1\n", 1, "defined nowhere"),
    ("[prod:children]\nweb\n", 2, "defined nowhere"),
    ("[web]\nh1 novalue\n", 2, "expected key=value"),
    ("[web:vars]\njust-a-word\n[web]\n", 2, "expected key=value"),
    ("[web]\nh[3:a]\n", 2, "host range"),
])
def test_ini_errors_name_the_line(tmp_path, text, line, fragment):
    p = write(tmp_path, "inv.ini", text)
    with pytest.raises(InputError) as info:  # a file that does not parse stops the whole inventory
        load_inventory(p)
    err = info.value
    assert err.line == line and fragment in str(err) and "\n" not in str(err), str(err)


@pytest.mark.parametrize("pattern, names", [
    ("web[01:03]", ["web01", "web02", "web03"]),
    ("db-[a:c].example.com", ["db-a.example.com", "db-b.example.com", "db-c.example.com"]),
    ("r[1:9:4]", ["r1", "r5", "r9"]),
    ("x[:2]", ["x0", "x1", "x2"]),
    ("[1:2]-[a:b]", ["1-a", "1-b", "2-a", "2-b"]),
    ("plain", ["plain"]),
])
def test_host_ranges(pattern, names):
    assert hostrange.expand(pattern) == names


@pytest.mark.parametrize("pattern", ["web[1:]", "web[01:100]", "web[c:a]", "web[1:2:0]", "web[1:2"])
def test_bad_host_ranges(pattern):
    with pytest.raises(InputError, match="host range"):
        hostrange.expand(pattern)


def test_host_port_split():
    assert hostrange.split_port("web[01:03]:2222") == ("web[01:03]", 2222)
    assert hostrange.split_port("fe80::1") == ("fe80::1", None)
    assert hostrange.split_port("web1") == ("web1", None)


def test_several_sources_add_up_later_winning(tmp_path):
    a = write(tmp_path, "a.yml", "web:\n  hosts: {web1: {x: 1}}\n")
    b = write(tmp_path, "b.ini", "[web]\nweb1 x=2\nweb2\n")
    inv = load_inventory([a, b])
    assert inv.host("web1").vars == {"x": 2} and sorted(inv.groups["web"]) == ["web1", "web2"]


def test_group_vars_entry_for_no_group_is_a_warning(tmp_path):
    p = write(tmp_path, "inv.yml", "web:\n  hosts: {web1: }\n")
    (tmp_path / "group_vars").mkdir()
    write(tmp_path / "group_vars", "wbe.yml", "x: 1\n")
    assert any("wbe.yml: group_vars entry names no group" in w for w in load_inventory(p).warnings)


def test_a_vaulted_group_file_is_read_with_the_vault_password_and_judged_only_for_its_hosts(tmp_path, monkeypatch):
    """ansible-vault itself encrypts and decrypts; without the password only that group's hosts are refused."""
    import subprocess
    import sys

    vault = Path(sys.executable).with_name("ansible-vault")
    if not vault.exists():
        pytest.skip("ansible-core is not installed beside the tests' python")
    p = write(tmp_path, "hosts", "[web]\nweb1\n[db]\ndb1\n")
    (tmp_path / "group_vars").mkdir()
    secret = write(tmp_path / "group_vars", "db.yml", "ansible_user: dbadmin\nremediation_app_port: 8001\n")
    password = write(tmp_path, "vault-pass", "s3cret\n")
    subprocess.run([str(vault), "encrypt", "--vault-password-file", str(password), str(secret)], check=True,
                   capture_output=True, env={**__import__("os").environ, "ANSIBLE_CONFIG": str(tmp_path / "none.cfg")})
    assert secret.read_text().startswith("$ANSIBLE_VAULT")
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "none.cfg"))
    inv = load_inventory(p)
    assert [h.name for h in inv.select("web")] == ["web1"]
    with pytest.raises(InputError) as info:
        inv.select("db")
    assert "vault-encrypted" in str(info.value) and info.value.path == str(secret) and "\n" not in str(info.value)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    db1 = load_inventory(p).host("db1")
    assert db1.vars["ansible_user"] == "dbadmin" and db1.origins["ansible_user"] == (str(secret), 1)
