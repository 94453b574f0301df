"""Who, where and which keys, as OpenSSH decides it (pure: a parsed ssh_config, no network)."""
from __future__ import annotations

import paramiko
import pytest

from remediation.errors import InputError
from remediation.transport import knownhosts, sshconfig

CONFIG = paramiko.SSHConfig.from_text("""\
Host web*
  User webops
  Port 2200
  IdentityFile ~/.ssh/web_key
Host alias1
  HostName 10.1.2.3
  ProxyJump jump@bastion:2222
Host bastion
  HostName 10.0.0.1
  UserKnownHostsFile ~/.ssh/kh_bastion
Host checked
  StrictHostKeyChecking accept-new
  HostKeyAlias checked.example
""")


def test_ssh_config_user_and_port_are_kept_when_the_inventory_is_silent():
    [hop] = sshconfig.resolve(CONFIG, "web1")
    assert (hop.user, hop.port, hop.hostname) == ("webops", 2200, "web1")
    assert hop.key_files[0].endswith("/.ssh/web_key") and not hop.look_for_keys
    assert hop.host_key_name == "[web1]:2200"


def test_inventory_vars_win_over_ssh_config():
    [hop] = sshconfig.resolve(CONFIG, "web1", user="deploy", port=22, key_file="/k")
    assert (hop.user, hop.port, hop.key_files, hop.host_key_name) == ("deploy", 22, ("/k",), "web1")


def test_no_user_anywhere_is_the_local_user_not_root(monkeypatch):
    monkeypatch.setattr(sshconfig, "local_user", lambda: "alice")
    [hop] = sshconfig.resolve(CONFIG, "db1")
    assert hop.user == "alice" and hop.port == 22 and hop.look_for_keys


def test_known_hosts_files_include_the_system_ones_and_the_extra_first():
    [hop] = sshconfig.resolve(CONFIG, "db1", extra_known_hosts="/x/kh")
    assert hop.known_hosts == ("/x/kh", "~/.ssh/known_hosts", "~/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts",
                               "/etc/ssh/ssh_known_hosts2")
    assert hop.add_to == "/x/kh" and hop.strict == "yes"


def test_alias_uses_host_name_for_the_key_and_jumps_through_the_bastion():
    jump, target = sshconfig.resolve(CONFIG, "alias1")
    assert (target.hostname, target.host_key_name) == ("10.1.2.3", "10.1.2.3")
    assert (jump.user, jump.hostname, jump.port, jump.host_key_name) == ("jump", "10.0.0.1", 2222, "[10.0.0.1]:2222")
    assert jump.known_hosts[0] == "~/.ssh/kh_bastion" and jump.strict == "yes"


def test_host_key_alias_and_accept_new_from_ssh_config():
    [hop] = sshconfig.resolve(CONFIG, "checked")
    assert hop.host_key_name == "checked.example" and hop.strict == "accept-new"


def test_common_args_as_ansible_passes_them():
    opts = sshconfig.parse_args("-o ProxyJump=a@j1,j2:2201 -o ControlMaster=auto -o 'ControlPersist 60s' -p 2022",
                                "host w")
    hops = sshconfig.resolve(CONFIG, "db9", args=opts)
    assert [(h.user, h.hostname, h.port) for h in hops][:2] == [("a", "j1", 22), (hops[1].user, "j2", 2201)]
    assert hops[-1].port == 2022


@pytest.mark.parametrize("args, fragment", [
    ("-o ProxyCommand='nc %h %p'", "ProxyCommand is not supported"),
    ("-o Tunnel=yes", "not supported"),
    ("-o", "needs a value"),
    ("-R 80:localhost:80", "not supported"),
    ("'unbalanced", "cannot split"),
])
def test_unsupported_ssh_args_are_one_line(args, fragment):
    with pytest.raises(InputError, match=fragment):
        sshconfig.parse_args(args, "host w")


def test_a_proxyjump_loop_is_refused():
    loop = paramiko.SSHConfig.from_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(InputError, match="longer than 8 hops"):
        sshconfig.resolve(loop, "a")


# --- known_hosts ----------------------------------------------------------------------------

KEY = paramiko.Ed25519Key.from_private_key_file  # noqa: E731 (type hint only)


@pytest.fixture
def key():
    import base64

    blob = base64.b64decode("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
    return paramiko.PKey.from_type_string("ssh-ed25519", blob)


def test_known_hosts_patterns_hashes_and_markers(key, tmp_path):
    hashed = knownhosts.line_for("10.0.0.9", key, hashed=True)
    text = ("# comment\n"
            f"*.example.com,!bad.example.com {key.get_name()} {key.get_base64()}\n"
            f"{hashed}"
            f"[10.0.0.7]:2222 {key.get_name()} {key.get_base64()}\n"
            f"@cert-authority *.corp {key.get_name()} {key.get_base64()}\n"
            f"@revoked old.example {key.get_name()} {key.get_base64()}\n"
            "garbage line\n")
    kh = knownhosts.parse(text, "kh")
    path = tmp_path / "kh"
    path.write_text(text)
    files = [str(path)]
    assert knownhosts.known_keys(files, "web.example.com")
    assert not knownhosts.known_keys(files, "bad.example.com")
    assert knownhosts.known_keys(files, "10.0.0.9") and not knownhosts.known_keys(files, "10.0.0.8")
    assert knownhosts.known_keys(files, "[10.0.0.7]:2222") and not knownhosts.known_keys(files, "10.0.0.7")
    assert knownhosts.is_revoked(files, key).line == 6
    assert kh.warnings == ["kh: @cert-authority line(s) 5 skipped (host certificates cannot be verified by this "
                           "tool; the host's plain key must be known)"]


def test_append_adds_one_line_and_keeps_every_other_byte(key, tmp_path):
    path = tmp_path / "known_hosts"
    before = b"# mine\n|1|abc=|def= ssh-ed25519 AAAA\n@cert-authority * ssh-ed25519 AAAA"  # no final newline
    path.write_bytes(before)
    knownhosts.append(str(path), "[h]:2222", key)
    after = path.read_bytes()
    assert after.startswith(before + b"\n")
    assert after[len(before) + 1:] == f"[h]:2222 ssh-ed25519 {key.get_base64()}\n".encode()


def test_append_creates_a_private_file(key, tmp_path):
    path = tmp_path / "new" / "known_hosts"
    knownhosts.append(str(path), "h", key, hashed=True)
    assert oct(path.stat().st_mode & 0o777) == "0o600" and path.read_text().startswith("|1|")
    assert knownhosts.known_keys([str(path)], "h")


def test_include_is_followed_and_the_system_config_comes_last(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh" / "conf.d").mkdir(parents=True)
    (tmp_path / ".ssh" / "conf.d" / "work.conf").write_text("Host app*\n  User fromincluded\n")
    (tmp_path / ".ssh" / "config").write_text("Include conf.d/*.conf\nHost db\n  Port 2201\n")
    system = tmp_path / "ssh_config"
    system.write_text("HashKnownHosts yes\nHost *\n  User fromsystem\n  Port 22\n")
    monkeypatch.setattr(sshconfig, "SYSTEM_CONFIG", str(system))
    config = sshconfig.load_config()
    [app] = sshconfig.resolve(config, "app1")
    [db] = sshconfig.resolve(config, "db")
    assert (app.user, app.hash_new) == ("fromincluded", True)
    assert (db.user, db.port) == ("fromsystem", 2201)
