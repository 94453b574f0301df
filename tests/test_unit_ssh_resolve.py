"""Who, where and which keys, as OpenSSH decides it (pure: a parsed ssh_config, no network)."""
from __future__ import annotations

import paramiko
import pytest

from remediation.errors import InputError
from remediation.transport import knownhosts, sshconfig

CONFIG = """\
Host web*
  User webops
  Port 2200
  IdentityFile ~/.ssh/web_key
Host alias1
  HostName 10.1.2.3
  ProxyJump jump@bastion:2222
Host bastion
  HostName 10.0.0.1
  UserKnownHostsFile /kh/bastion
Host checked
  StrictHostKeyChecking accept-new
  HostKeyAlias checked.example
Host loop-a
  ProxyJump loop-b
Host loop-b
  ProxyJump loop-a
Match user deploy
  IdentityFile /keys/deploy_%r_%h_%p
Host *
  UserKnownHostsFile /kh/user
  GlobalKnownHostsFile /kh/global
"""


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    return ["-F", str(path)]


def resolve(cfg, host, **vars_):
    """The hops of `host` with the inventory's vars as Ansible passes them."""
    args = vars_.pop("args", "")
    argv = cfg + sshconfig.ansible_options(**vars_) + sshconfig.split_args(args, "host w")
    return sshconfig.resolve(argv, host, where="host w")


def test_ssh_config_user_and_port_are_kept_when_the_inventory_is_silent(cfg):
    [hop] = resolve(cfg, "web1")
    assert (hop.user, hop.port, hop.hostname) == ("webops", 2200, "web1")
    assert hop.identity_files == (sshconfig.home_dir() + "/.ssh/web_key",)
    assert hop.host_key_name == "[web1]:2200"


def test_inventory_vars_win_over_ssh_config_and_keys_add_up(cfg):
    [hop] = resolve(cfg, "web1", user="deploy", port=22, key_file="/k")
    assert (hop.user, hop.port, hop.host_key_name) == ("deploy", 22, "web1")
    # OpenSSH offers every IdentityFile: the inventory's first, then ssh_config's (Match user sees
    # the inventory's user, not the local one)
    assert hop.identity_files == ("/k", sshconfig.home_dir() + "/.ssh/web_key", "/keys/deploy_deploy_web1_22")


def test_no_user_anywhere_is_the_local_user_not_root(cfg):
    [hop] = resolve(cfg, "db1")
    assert hop.user == sshconfig.local_user() and hop.port == 22


def test_known_hosts_files_are_the_configs_and_the_extra_comes_first(cfg):
    argv = cfg + sshconfig.ansible_options()
    [hop] = sshconfig.resolve(argv, "db1", where="w", extra_known_hosts="/x/kh")
    assert hop.known_hosts == ("/x/kh", "/kh/user", "/kh/global")
    assert hop.add_to == "/x/kh" and hop.strict == "yes"


def test_a_jump_host_is_resolved_with_its_own_settings_only(cfg):
    jump, target = resolve(cfg, "alias1", host_key_checking=False)
    assert (target.hostname, target.host_key_name, target.strict) == ("10.1.2.3", "10.1.2.3", "accept-new")
    assert (jump.user, jump.hostname, jump.port, jump.host_key_name) == ("jump", "10.0.0.1", 2222, "[10.0.0.1]:2222")
    # the target's host_key_checking=false is not the bastion's: an unknown bastion key stays refused
    assert jump.known_hosts[0] == "/kh/bastion" and jump.strict == "yes"


def test_host_key_alias_and_accept_new_from_ssh_config(cfg):
    [hop] = resolve(cfg, "checked")
    assert hop.host_key_name == "checked.example" and hop.strict == "accept-new"


def test_common_args_as_ansible_passes_them(cfg):
    hops = resolve(cfg, "db9", args="-o ProxyJump=a@j1,j2:2201 -o ControlMaster=auto -o 'ControlPersist 60s' "
                                    "-p 2022 -o AddressFamily=inet -o UpdateHostKeys=no")
    assert [(h.user, h.hostname, h.port) for h in hops][:2] == [("a", "j1", 22), (hops[1].user, "j2", 2201)]
    assert hops[-1].port == 2022


def test_proxycommand_is_kept_with_its_tokens_expanded(cfg):
    [hop] = resolve(cfg, "web1", user="deploy", args='-o ProxyCommand="ssh -W %h:%p -l %r bastion"')
    assert hop.proxy_command == "ssh -W web1:2200 -l deploy bastion"


@pytest.mark.parametrize("args, fragment", [
    ("-o Tunnel-is-no-option=yes", "Bad configuration option"),
    ("-o", "requires argument"),
    ("otherhost", "not an option"),
    ("-G", "prints the configuration"),
    ("'unbalanced", "cannot split"),
])
def test_args_ssh_would_refuse_are_one_line(cfg, args, fragment):
    with pytest.raises(InputError, match=fragment):
        resolve(cfg, "web1", args=args)


def test_a_proxyjump_loop_is_refused(cfg):
    with pytest.raises(InputError, match="longer than 8 hops"):
        resolve(cfg, "loop-a")


def test_without_ssh_installed_it_says_so_in_one_line(cfg, monkeypatch):
    monkeypatch.setattr(sshconfig.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="`ssh` is not installed"):
        resolve(cfg, "web1")


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
    assert [e.line for e in kh.authorities] == [5]
    assert knownhosts.authorities(files, "db.corp") and not knownhosts.authorities(files, "db.example")


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


# --- host certificates --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A host key and its certificates, made by ssh-keygen (the oracle of the format)."""
    import subprocess

    d = tmp_path_factory.mktemp("certs")

    def keygen(name):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)

    for name in ("ca", "other_ca", "host"):
        keygen(name)

    def sign(ca, ident, *extra):
        subprocess.run(["ssh-keygen", "-q", "-s", str(d / ca), "-I", ident, *extra, str(d / "host.pub")], check=True)
        fields = (d / "host-cert.pub").read_text().split()
        return base64.b64decode(fields[1])

    def pub(name):
        kind, data = (d / f"{name}.pub").read_text().split()[:2]
        return paramiko.PKey.from_type_string(kind, base64.b64decode(data))

    return {"host": sign("ca", "h", "-h", "-n", "web1,web1.example"), "user": sign("ca", "u", "-n", "root"),
            "expired": sign("ca", "e", "-h", "-n", "web1", "-V", "20200101:20200102"),
            "critical": sign("ca", "c", "-h", "-n", "web1", "-O", "force-command=/bin/true"),
            "ca": pub("ca"), "other_ca": pub("other_ca")}


import base64  # noqa: E402

from remediation.transport import hostcert  # noqa: E402


def test_a_host_certificate_is_trusted_by_its_ca_for_its_principals(signed):
    import time

    cert = hostcert.parse(signed["host"])
    now = int(time.time())
    assert cert.principals == ("web1", "web1.example") and cert.cert_type == hostcert.HOST_CERT
    assert hostcert.problem(cert, signed["ca"], "web1", now) is None
    assert hostcert.problem(cert, signed["ca"], "web2", now) == "web2 is not among its principals (web1, web1.example)"
    assert hostcert.problem(cert, signed["other_ca"], "web1", now) == "signed by another CA"


def test_a_user_expired_or_tampered_certificate_is_refused(signed):
    import time

    now = int(time.time())
    assert hostcert.problem(hostcert.parse(signed["user"]), signed["ca"], "root", now) == "not a host certificate"
    assert hostcert.problem(hostcert.parse(signed["expired"]), signed["ca"], "web1", now) == "not valid now"
    blob = bytearray(signed["host"])
    blob[60] ^= 1  # inside the nonce: the CA signed other bytes
    assert hostcert.problem(hostcert.parse(bytes(blob)), signed["ca"], "web1", now) == \
        "the CA's signature does not verify"
    with pytest.raises(hostcert.BadCertificate):
        hostcert.parse(signed["host"][:40])
