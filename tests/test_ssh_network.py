"""SSH as OpenSSH does it, over real sshd (tests/sshnet.py: a bastion on two bridges, an app
host reachable only through it): every hop's host key checked strictly, a wrong or unknown
bastion key refused, a host reached by an ssh_config alias, an agent-only key, an encrypted
key. Needs root; skips with the reason otherwise. The ssh config is the test's, given with -F
(OpenSSH reads ~ from the passwd entry, not $HOME), and names the test's known_hosts files."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import sshnet
from remediation.config.inventory import load_inventory
from remediation.transport import knownhosts, ssh
from remediation.transport.remote import HostUnreachable, Remote

pytestmark = pytest.mark.sshnet


@pytest.fixture(scope="module")
def net():
    reason = sshnet.why_not()
    if reason:
        print(f"skipping the SSH network tests: {reason}")
        pytest.skip(reason)
    n = sshnet.up()
    try:
        yield n
    finally:
        sshnet.down(n)


@pytest.fixture
def home(tmp_path, monkeypatch, net):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setattr(ssh, "_PASSPHRASES", {})
    dot = tmp_path / ".ssh"
    dot.mkdir(mode=0o700)
    plain, enc = net.keys["plain"], net.keys["encrypted"]
    (dot / "config").write_text(textwrap.dedent(f"""\
        Host bastion
          HostName {sshnet.BASTION}
          User root
          IdentityFile {plain}
        Host appalias
          HostName {sshnet.APP}
          ProxyJump bastion
          IdentityFile {plain}
        Host appkeyalias
          HostName {sshnet.APP}
          HostKeyAlias app.internal
          ProxyJump bastion
          IdentityFile {plain}
        Host 10.79.1.*
          ProxyJump bastion
          IdentityFile {plain}
        Host agentonly
          HostName {sshnet.BASTION}
          IdentitiesOnly no
        Host encrypted
          HostName {sshnet.BASTION}
          IdentityFile {enc}
        Host *
          GlobalKnownHostsFile {tmp_path / 'global_known_hosts'}
          UserKnownHostsFile {dot / 'known_hosts'}
          IdentityFile {dot / 'id_ed25519'}
        """))
    return tmp_path


def known_hosts(home: Path, text: str) -> Path:
    path = home / ".ssh" / "known_hosts"
    path.write_text(text)
    return path


def hashed(net, name: str, host: str) -> str:
    return knownhosts.line_for(name, _pkey(net.host_keys[host]), hashed=True)


def _pkey(line: str):
    import paramiko

    kind, data = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(data))


def host(home: Path, **vars_) -> object:
    """The inventory host `target`; ssh reads the test's config through -F, as Ansible users pass it."""
    own = f"-F {home / '.ssh' / 'config'}"
    vars_["ansible_ssh_common_args"] = f"{own} {vars_.get('ansible_ssh_common_args', '')}".strip()
    inv = home / "inv.yml"
    lines = "".join(f"      {k}: {v!r}\n" for k, v in vars_.items()) if vars_ else ""
    inv.write_text("all:\n  hosts:\n    target:\n" + lines)
    return load_inventory(inv).host("target")


def run_on(h, **kw) -> str:
    with Remote(h, **kw) as remote:
        return remote.run(["ip", "-o", "-4", "addr", "show"]).stdout


def test_app_host_through_the_bastion_with_both_keys_checked(net, home):
    known_hosts(home, "# fleet keys\n" + net.known_line(sshnet.BASTION, "bastion") + hashed(net, sshnet.APP, "app"))
    out = run_on(host(home, ansible_host=sshnet.APP))
    assert sshnet.APP in out and sshnet.BASTION not in out  # the command ran on the app host


def test_the_app_host_is_not_reachable_without_the_bastion(net, home):
    known_hosts(home, net.known_line(sshnet.APP, "app"))
    h = host(home, ansible_host=sshnet.APP, ansible_ssh_common_args="-o ProxyJump=none")
    with pytest.raises(HostUnreachable):
        run_on(h)


def test_a_wrong_bastion_key_is_refused(net, home):
    forged = f"{sshnet.BASTION} {net.host_keys['app']}\n"  # the app's key recorded for the bastion
    known_hosts(home, forged + net.known_line(sshnet.APP, "app"))
    with pytest.raises(HostUnreachable) as info:
        run_on(host(home, ansible_host=sshnet.APP))
    assert "CHANGED" in str(info.value) and sshnet.BASTION in str(info.value)


def test_an_unknown_bastion_key_is_refused_then_appended_on_request(net, home):
    before = "# keep me\n" + hashed(net, sshnet.APP, "app") + "@cert-authority *.corp ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    path = known_hosts(home, before)
    with pytest.raises(HostUnreachable) as info:
        run_on(host(home, ansible_host=sshnet.APP))
    assert "not found in known_hosts" in str(info.value) and sshnet.BASTION in str(info.value)
    assert path.read_text() == before
    run_on(host(home, ansible_host=sshnet.APP), accept_new_host_key=True)
    after = path.read_text()
    assert after.startswith(before) and after[len(before):] == net.known_line(sshnet.BASTION, "bastion")
    assert sshnet.APP in run_on(host(home, ansible_host=sshnet.APP))  # strict again, both keys now known


def test_proxyjump_from_the_inventory_as_ansible_passes_it(net, home):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion") + net.known_line(sshnet.APP, "app"))
    h = host(home, ansible_host=sshnet.APP, ansible_user="root", ansible_ssh_private_key_file=str(net.keys["plain"]),
             ansible_ssh_common_args="-o ProxyJump=root@bastion:22")
    assert sshnet.APP in run_on(h)


def test_host_alias_looks_up_the_key_under_its_host_name(net, home):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion") + hashed(net, sshnet.APP, "app"))
    assert sshnet.APP in run_on(host(home, ansible_host="appalias"))


def test_host_key_alias_is_the_name_looked_up(net, home):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion") + net.known_line("app.internal", "app"))
    assert sshnet.APP in run_on(host(home, ansible_host="appkeyalias"))


def test_revoked_key_is_refused_even_when_listed(net, home):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion") + f"@revoked * {net.host_keys['bastion']}\n")
    with pytest.raises(HostUnreachable, match="REVOKED"):
        run_on(host(home, ansible_host="bastion"))


def test_system_known_hosts_file_is_read(net, home):
    (home / "global_known_hosts").write_text(net.known_line(sshnet.BASTION, "bastion"))
    known_hosts(home, "")
    assert sshnet.BASTION in run_on(host(home, ansible_host="bastion"))


@pytest.fixture
def agent(home, monkeypatch):
    sock = home / "agent.sock"
    proc = sshnet.start_agent(sock)
    try:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.kill()
        proc.wait(timeout=10)


ssh_add = sshnet.ssh_add


def test_agent_only_key(net, home, agent):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion"))
    only_copy = home / "agent_key"
    only_copy.write_bytes(net.keys["agent"].read_bytes())
    only_copy.chmod(0o600)
    ssh_add(only_copy, agent)
    only_copy.unlink()  # the key exists only in the agent now; ~/.ssh has no default keys
    assert sshnet.BASTION in run_on(host(home, ansible_host="agentonly"))


def test_no_key_at_all_is_one_line(net, home):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion"))
    with pytest.raises(HostUnreachable) as info:
        run_on(host(home, ansible_host="agentonly"))
    assert "authentication failed" in str(info.value) and "\n" not in str(info.value)


def test_encrypted_key_without_agent_or_terminal_is_one_line(net, home, monkeypatch):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    with pytest.raises(HostUnreachable) as info:
        run_on(host(home, ansible_host="encrypted"))
    assert "is encrypted and not in the ssh-agent" in str(info.value) and "ssh-add" in str(info.value)


def test_encrypted_key_through_the_agent(net, home, agent):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion"))
    ssh_add(net.keys["encrypted"], agent, "correct horse")
    assert sshnet.BASTION in run_on(host(home, ansible_host="encrypted"))


def test_encrypted_key_with_a_passphrase_typed_on_a_terminal(net, home, monkeypatch):
    known_hosts(home, net.known_line(sshnet.BASTION, "bastion"))
    asked = []
    monkeypatch.setattr(ssh, "_passphrase", lambda path: asked.append(path) or "correct horse")
    assert sshnet.BASTION in run_on(host(home, ansible_host="encrypted"))
    assert asked == [str(net.keys["encrypted"])]
