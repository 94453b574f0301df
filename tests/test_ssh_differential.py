"""SSH as OpenSSH and Ansible do it, judged by OpenSSH and Ansible themselves.

Each case is an ssh_config (given with -F, as Ansible users pass one), known_hosts files, an
ssh-agent and, for the inventory cases, Ansible host vars, over real sshd hosts (tests/sshnet.py:
a bastion, and an app host reachable only through it). The same case is run by the oracle, plain
`ssh` (OpenSSH 9) or `ansible -m raw` (ansible-core, which drives ssh), and by the tool; the two
must agree on whether a login happens, as whom and on which host, and on what is written to the
known_hosts files. A case's `expect` pins the oracle's own answer, so a case that stops testing
what its name says (both sides failing for an unrelated reason) fails too.

A few cases are deliberate divergences, each with its reason: the tool is stricter than OpenSSH
(a changed host key is refused even where StrictHostKeyChecking=no lets ssh go on)."""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sshnet
from remediation.config.inventory import load_inventory
from remediation.errors import InputError
from remediation.transport import knownhosts
from remediation.transport.remote import HostUnreachable, Remote

pytestmark = pytest.mark.sshnet

B, BI, A = sshnet.BASTION, sshnet.BASTION_INNER, sshnet.APP
WHO = 'echo "$(id -un) $(hostname -I)"'
ANSIBLE = Path(sys.executable).with_name("ansible")


@dataclass
class Case:
    id: str
    config: str                      # ssh_config text; {B} {A} {BI} {plain} {enc} {agentkey} {stranger} {dir} {cfg}
    target: str                      # ssh's host argument, the inventory's ansible_host
    expect: str                      # the oracle's answer: "ok" or "fail"
    known: str = "{B} {kB}\n{A} {kA}\n"   # the user known_hosts file
    global_known: str = ""
    agent: tuple[str, ...] = ()      # keys loaded into an ssh-agent ("enc" is added with its passphrase)
    agent_env: bool = True           # SSH_AUTH_SOCK exported (when there is an agent)
    vars: dict = field(default_factory=dict)  # inventory vars: Ansible is the oracle
    ansible_cfg: str = ""            # ansible.cfg (ANSIBLE_CONFIG) for both sides: Ansible is the oracle
    diverge: str = ""                # why the tool deliberately refuses where the oracle goes on


TAIL = """
Host *
  BatchMode yes
  ConnectTimeout 5
  UserKnownHostsFile {dir}/known_hosts
  GlobalKnownHostsFile {dir}/global_known_hosts
  IdentityFile {dir}/id_default
"""
BASTION = """
Host bastion
  HostName {B}
  User root
  IdentityFile {plain}
"""


def via(route: str, settings: str) -> tuple[str, str]:
    """(config, target): `settings` on the target, reached directly (the bastion) or through it."""
    body = textwrap.indent(textwrap.dedent(settings).strip(), "  ") + "\n" if settings.strip() else ""
    if route == "direct":
        return f"Host {{B}}\n{body}", "{B}"
    if route == "jump":
        return f"Host {{A}}\n  ProxyJump bastion\n{body}{BASTION}", "{A}"
    if route == "proxycommand":
        return f"Host {{A}}\n  ProxyCommand ssh -F {{cfg}} -W %h:%p bastion\n{body}{BASTION}", "{A}"
    raise ValueError(route)


ROUTES = ("direct", "jump", "proxycommand")
# (name, settings on the target host, agent keys, agent exported, expect)
AUTH = [
    ("identityfile", "User root\nIdentityFile {plain}", (), True, "ok"),
    ("stranger-key-refused", "User root\nIdentityFile {stranger}", (), True, "fail"),
    ("missing-file-then-good-one", "User root\nIdentityFile {dir}/nope\nIdentityFile {plain}", (), True, "ok"),
    ("stranger-then-good-key-adds-up", "User root\nIdentityFile {stranger}\nIdentityFile {plain}", (), True, "ok"),
    ("agent-key", "User root", ("agentkey",), True, "ok"),
    ("identitiesonly-hides-the-agent", "User root\nIdentitiesOnly yes\nIdentityFile {stranger}", ("agentkey",), True,
     "fail"),
    ("identitiesonly-no-uses-the-agent", "User root\nIdentitiesOnly no\nIdentityFile {stranger}", ("agentkey",),
     True, "ok"),
    ("identitiesonly-with-the-files-key-in-the-agent", "User root\nIdentitiesOnly yes\nIdentityFile {enc}", ("enc",),
     True, "ok"),
    ("encrypted-key-without-agent", "User root\nIdentityFile {enc}", (), True, "fail"),
    ("identityagent-path", "User root\nIdentityAgent {dir}/agent.sock", ("agentkey",), False, "ok"),
    ("identityagent-none", "User root\nIdentityAgent none", ("agentkey",), True, "fail"),
    ("identityfile-r-token", "User root\nIdentityFile {dir}/id_%r", (), True, "ok"),
    ("identityfile-h-and-p-tokens", "User root\nIdentityFile {dir}/id_%h_%p", (), True, "ok"),
    ("user-from-config", "User rmsshu\nIdentityFile {plain}", (), True, "ok"),
    ("match-user-picks-the-key", "User rmsshu\nMatch user rmsshu\n  IdentityFile {plain}", (), True, "ok"),
    ("match-user-not-the-local-user", "User rmsshu\nMatch user root\n  IdentityFile {plain}", (), True, "fail"),
    ("port-2222-from-config", "User root\nPort 2222\nIdentityFile {plain}", (), True, "ok"),
]

HOSTKEYS_DIRECT = [
    # (name, config for the bastion, known, global known, expect)
    ("unknown-refused", "", "", "", "fail"),
    ("unknown-accept-new-appended", "StrictHostKeyChecking accept-new", "", "", "ok"),
    ("unknown-no-appended", "StrictHostKeyChecking no", "", "", "ok"),
    ("wrong-key-refused", "", "{B} {kA}\n", "", "fail"),
    ("hashed-entry", "", "{hB}", "", "ok"),
    ("wildcard-entry", "", "10.79.0.* {kB}\n", "", "ok"),
    ("negated-entry", "", "10.79.0.*,!{B} {kB}\n", "", "fail"),
    ("revoked", "", "{B} {kB}\n@revoked * {kB}\n", "", "fail"),
    ("global-file", "", "", "{B} {kB}\n", "ok"),
    ("second-user-file", "UserKnownHostsFile {dir}/kh_first {dir}/known_hosts", "{B} {kB}\n", "", "ok"),
    ("hostkeyalias", "HostKeyAlias bastion.internal", "bastion.internal {kB}\n", "", "ok"),
    ("hostkeyalias-ignores-the-address", "HostKeyAlias bastion.internal", "{B} {kB}\n", "", "fail"),
    ("port-2222-same-key-known-without-port", "Port 2222", "{B} {kB}\n", "", "ok"),
    ("port-2222-other-key-without-port-is-new", "Port 2222", "{B} {kA}\n", "", "fail"),
    ("port-2222-other-key-without-port-accept-new", "Port 2222\nStrictHostKeyChecking accept-new", "{B} {kA}\n", "",
     "ok"),
    ("port-2222-alias-no-fallback", "Port 2222\nHostKeyAlias bast.internal", "{B} {kB}\n", "", "fail"),
    ("port-2222-bracketed", "Port 2222", "[{B}]:2222 {kB}\n", "", "ok"),
    ("port-2222-accept-new-bracketed", "Port 2222\nStrictHostKeyChecking accept-new", "", "", "ok"),
    ("hash-known-hosts-accept-new", "HashKnownHosts yes\nStrictHostKeyChecking accept-new", "", "", "ok"),
    ("user-known-hosts-none", "UserKnownHostsFile none", "{B} {kB}\n", "{B} {kB}\n", "ok"),
    ("checkhostip-ignored", "CheckHostIP no", "{B} {kB}\n", "", "ok"),
    # the bastion's key carries a host certificate (principals: its address and bastion.internal)
    ("cert-authority-trusted", "", "@cert-authority 10.79.0.* {kCA}\n", "", "ok"),
    ("cert-authority-in-the-global-file", "", "", "@cert-authority * {kCA}\n", "ok"),
    ("cert-authority-principal-by-alias", "HostKeyAlias bastion.internal", "@cert-authority bastion.* {kCA}\n", "",
     "ok"),
    ("cert-authority-not-a-principal", "HostKeyAlias other.internal", "@cert-authority * {kCA}\n", "", "fail"),
    ("cert-authority-another-ca", "", "@cert-authority * {kA}\n", "", "fail"),
    ("cert-authority-another-ca-plain-key-known", "", "@cert-authority * {kA}\n{B} {kB}\n", "", "ok"),
    ("cert-authority-not-matching-the-host", "", "@cert-authority *.corp {kCA}\n", "", "fail"),
    ("cert-authority-revoked-ca", "", "@cert-authority * {kCA}\n@revoked * {kCA}\n", "", "fail"),
    ("cert-authority-revoked-host-key", "", "@cert-authority * {kCA}\n@revoked * {kB}\n", "", "fail"),
    ("cert-authority-port-2222", "Port 2222", "@cert-authority [10.79.0.10]:2222 {kCA}\n", "", "ok"),
]

HOSTKEYS_CHAIN = [
    # (name, config text, target, known, expect, diverge)
    ("bastion-unknown-app-known", BASTION + "Host {A}\n  ProxyJump bastion\n  IdentityFile {plain}\n  User root\n",
     "{A}", "{A} {kA}\n", "fail", ""),
    ("bastion-unknown-target-strict-no", BASTION + "Host {A}\n  ProxyJump bastion\n  StrictHostKeyChecking no\n"
     "  IdentityFile {plain}\n  User root\n", "{A}", "{A} {kA}\n", "fail", ""),
    ("bastion-accept-new-own-setting", BASTION + "  StrictHostKeyChecking accept-new\nHost {A}\n  ProxyJump bastion\n"
     "  IdentityFile {plain}\n  User root\n", "{A}", "{A} {kA}\n", "ok", ""),
    ("app-unknown-bastion-known", BASTION + "Host {A}\n  ProxyJump bastion\n  IdentityFile {plain}\n  User root\n",
     "{A}", "{B} {kB}\n", "fail", ""),
    ("app-unknown-target-accept-new", BASTION + "Host {A}\n  ProxyJump bastion\n  StrictHostKeyChecking accept-new\n"
     "  IdentityFile {plain}\n  User root\n", "{A}", "{B} {kB}\n", "ok", ""),
    ("wrong-bastion-key", BASTION + "Host {A}\n  ProxyJump bastion\n  IdentityFile {plain}\n  User root\n",
     "{A}", "{B} {kA}\n{A} {kA}\n", "fail", ""),
    ("wrong-app-key-strict-no", BASTION + "Host {A}\n  ProxyJump bastion\n  StrictHostKeyChecking no\n"
     "  IdentityFile {plain}\n  User root\n", "{A}", "{B} {kB}\n{A} {kB}\n", "ok",
     "a changed host key is refused even under StrictHostKeyChecking=no (ssh goes on with password logins off)"),
    ("bastion-own-known-hosts-file", BASTION + "  UserKnownHostsFile {dir}/kh_bastion\nHost {A}\n  ProxyJump bastion\n"
     "  IdentityFile {plain}\n  User root\n", "{A}", "{A} {kA}\n", "fail", ""),
    ("app-alias-hashed", BASTION + "Host app\n  HostName {A}\n  ProxyJump bastion\n  IdentityFile {plain}\n"
     "  User root\n", "app", "{B} {kB}\n{hA}", "ok", ""),
    ("app-hostkeyalias", BASTION + "Host app\n  HostName {A}\n  HostKeyAlias app.internal\n  ProxyJump bastion\n"
     "  IdentityFile {plain}\n  User root\n", "app", "{B} {kB}\n app.internal {kA}\n", "ok", ""),
    ("two-hop-chain", BASTION + "Host {A}\n  ProxyJump bastion,root@{BI}\n  IdentityFile {plain}\n  User root\n"
     "Host {BI}\n  IdentityFile {plain}\n", "{A}", "{B} {kB}\n{BI} {kB}\n{A} {kA}\n", "ok", ""),
    ("two-hop-chain-middle-unknown", BASTION + "Host {A}\n  ProxyJump bastion,root@{BI}\n  IdentityFile {plain}\n"
     "  User root\nHost {BI}\n  IdentityFile {plain}\n", "{A}", "{B} {kB}\n{A} {kA}\n", "fail", ""),
    ("proxyjump-none-no-route", BASTION + "Host {A}\n  ProxyJump none\n  ConnectTimeout 2\n  IdentityFile {plain}\n"
     "  User root\n", "{A}", "{B} {kB}\n{A} {kA}\n", "fail", ""),
    ("proxycommand-no-route", "Host {A}\n  ProxyCommand false\n  IdentityFile {plain}\n  User root\n",
     "{A}", "{B} {kB}\n{A} {kA}\n", "fail", ""),
    ("proxycommand-beats-later-proxyjump", BASTION + "Host {A}\n  ProxyCommand ssh -F {cfg} -W %h:%p bastion\n"
     "  IdentityFile {plain}\n  User root\nHost {A}\n  ProxyJump nowhere.invalid\n", "{A}",
     "{B} {kB}\n{A} {kA}\n", "ok", ""),
    ("bastion-behind-its-own-proxycommand", "Host bastion\n  HostName {B}\n  User root\n  IdentityFile {plain}\n"
     "  ProxyCommand ssh -F {cfg} -W %h:%p root@{B}\nHost {A}\n  ProxyJump bastion\n  IdentityFile {plain}\n"
     "  User root\nHost {B}\n  IdentityFile {plain}\n", "{A}",
     "{B} {kB}\n{A} {kA}\n", "ok", ""),
]

LAYOUT = [
    # (name, config, target, expect): Include, Match and Host patterns, resolved by ssh itself
    ("include-at-top-then-globals", "Include {dir}/conf.d/*.conf\nUser root\nIdentityFile {plain}\n",
     "{B}", "ok"),
    ("include-inside-a-host-block", "Host {B}\n  Include {dir}/conf.d/*.conf\n  User root\n"
     "  IdentityFile {plain}\n", "{B}", "ok"),
    ("include-of-nothing", "Include {dir}/absent/*.conf\nHost {B}\n  User root\n  IdentityFile {plain}\n",
     "{B}", "ok"),
    ("include-sets-the-key", "Host {B}\n  User root\n  Include {dir}/conf.d/key.inc\n", "{B}", "ok"),
    ("match-host", "Match host {B}\n  User root\n  IdentityFile {plain}\n", "{B}", "ok"),
    ("match-originalhost-alias", "Host bast\n  HostName {B}\nMatch originalhost bast\n  User root\n"
     "  IdentityFile {plain}\n", "bast", "ok"),
    ("match-exec-true", "Match exec true\n  User root\n  IdentityFile {plain}\n", "{B}", "ok"),
    ("match-exec-false", "Match exec false\n  User root\n  IdentityFile {plain}\n", "{B}", "fail"),
    ("match-localuser", "Match localuser root\n  User root\n  IdentityFile {plain}\n", "{B}", "ok"),
    ("host-negation", "Host * !{B}\n  IdentityFile {stranger}\nHost {B}\n  User root\n  IdentityFile {plain}\n",
     "{B}", "ok"),
    ("first-value-wins", "Host {B}\n  User root\n  IdentityFile {plain}\nHost *\n  User rmsshu\n", "{B}", "ok"),
    ("hostname-token", "Host 10\n  HostName 10.79.0.%h\n  User root\n  IdentityFile {plain}\n", "10", "ok"),
    ("canonical-domains-off", "Host bast\n  HostName {B}\n  CanonicalizeHostname no\n  User root\n"
     "  IdentityFile {plain}\n", "bast", "ok"),
]

INVENTORY = [
    # (name, config, vars, known, expect): Ansible passes the vars to ssh; ansible -m raw is the oracle
    ("inventory-user-and-key", "", {"ansible_user": "root", "ansible_ssh_private_key_file": "{plain}"},
     "{B} {kB}\n", "ok"),
    ("inventory-key-adds-to-config-key", "Host {B}\n  IdentityFile {stranger}\n",
     {"ansible_user": "root", "ansible_ssh_private_key_file": "{plain}"}, "{B} {kB}\n", "ok"),
    ("config-key-adds-to-inventory-key", "Host {B}\n  IdentityFile {plain}\n",
     {"ansible_user": "root", "ansible_ssh_private_key_file": "{stranger}"}, "{B} {kB}\n", "ok"),
    ("inventory-user-wins-over-config", "Host {B}\n  User nobody-here\n  IdentityFile {plain}\n",
     {"ansible_user": "root"}, "{B} {kB}\n", "ok"),
    ("inventory-user-drives-match-user", "Match user rmsshu\n  IdentityFile {plain}\n",
     {"ansible_user": "rmsshu"}, "{B} {kB}\n", "ok"),
    ("inventory-port-wins", "Host {B}\n  Port 2\n  User root\n  IdentityFile {plain}\n", {"ansible_port": 2222},
     "[{B}]:2222 {kB}\n", "ok"),
    ("host-key-checking-false-target", "Host {B}\n  User root\n  IdentityFile {plain}\n",
     {"ansible_host_key_checking": False}, "", "ok"),
    ("host-key-checking-false-not-the-bastion", BASTION + "Host {A}\n  ProxyJump bastion\n  User root\n"
     "  IdentityFile {plain}\n", {"ansible_host_key_checking": False}, "", "fail"),
    ("host-key-checking-false-behind-known-bastion", BASTION + "Host {A}\n  ProxyJump bastion\n  User root\n"
     "  IdentityFile {plain}\n", {"ansible_host_key_checking": False}, "{B} {kB}\n", "ok"),
    ("common-args-proxyjump", BASTION, {"ansible_user": "root", "ansible_ssh_private_key_file": "{plain}",
                                        "ansible_ssh_common_args": "-o ProxyJump=bastion"}, "{B} {kB}\n{A} {kA}\n",
     "ok"),
    ("common-args-proxycommand-recipe", BASTION,
     {"ansible_user": "root", "ansible_ssh_private_key_file": "{plain}",
      "ansible_ssh_common_args": "-o ProxyCommand=\"ssh -F {cfg} -W %h:%p -q bastion\""}, "{B} {kB}\n{A} {kA}\n", "ok"),
    ("common-args-session-options", "Host {B}\n  User root\n  IdentityFile {plain}\n",
     {"ansible_ssh_common_args": "-o AddressFamily=inet -o UpdateHostKeys=no -o ServerAliveInterval=30 "
                                 "-o ControlMaster=auto -o ControlPersist=60s -C"}, "{B} {kB}\n", "ok"),
    ("extra-args-identity", "Host {B}\n  User root\n", {"ansible_ssh_extra_args": "-i {plain}"}, "{B} {kB}\n", "ok"),
    ("common-args-user-after-inventory-user", "Host {B}\n  IdentityFile {plain}\n",
     {"ansible_user": "root", "ansible_ssh_common_args": "-l rmsshu"}, "{B} {kB}\n", "ok"),
    ("inventory-key-missing-file", "Host {B}\n  User root\n  IdentityFile {plain}\n",
     {"ansible_ssh_private_key_file": "{dir}/no-such-key"}, "{B} {kB}\n", "ok"),
    ("common-args-identities-only", "Host {B}\n  User root\n",
     {"ansible_ssh_common_args": "-o IdentitiesOnly=yes -i {stranger}"}, "{B} {kB}\n", "fail"),
]
ANSIBLE_CFG = [
    # (name, config, ansible.cfg, known, target, expect): Ansible's own settings, below the inventory vars
    ("cfg-remote-user-and-key", "", "[defaults]\nremote_user = rmsshu\nprivate_key_file = {plain}\n",
     "{B} {kB}\n", "{B}", "ok"),
    ("cfg-relative-key-path", "Host {B}\n  User root\n", "[defaults]\nprivate_key_file = id_root\n",
     "{B} {kB}\n", "{B}", "ok"),
    ("cfg-host-key-checking-off", "Host {B}\n  User root\n  IdentityFile {plain}\n",
     "[defaults]\nhost_key_checking = False\n", "", "{B}", "ok"),
    ("cfg-host-key-checking-off-not-the-bastion", BASTION + "Host {A}\n  ProxyJump bastion\n  User root\n"
     "  IdentityFile {plain}\n", "[defaults]\nhost_key_checking = False\n", "", "{A}", "fail"),
    ("cfg-ssh-common-args-proxyjump", BASTION + "Host {A}\n  User root\n  IdentityFile {plain}\n",
     "[ssh_connection]\nssh_common_args = -F {cfg} -o ProxyJump=bastion\n", "{B} {kB}\n{A} {kA}\n", "{A}", "ok"),
    ("cfg-ssh-args-identity", "Host {B}\n  User root\n", "[ssh_connection]\nssh_args = -F {cfg} -i {plain}\n",
     "{B} {kB}\n", "{B}", "ok"),
]
INVENTORY_TARGETS = {"host-key-checking-false-not-the-bastion": "{A}",
                     "host-key-checking-false-behind-known-bastion": "{A}", "common-args-proxyjump": "{A}",
                     "common-args-proxycommand-recipe": "{A}"}
INVENTORY_AGENT = {"common-args-identities-only": ("agentkey",)}


def cases() -> list[Case]:
    out = []
    for route in ROUTES:
        for name, settings, agent, exported, expect in AUTH:
            config, target = via(route, settings)
            out.append(Case(f"auth-{route}-{name}", config, target, expect, agent=agent, agent_env=exported))
    for name, settings, known, global_known, expect in HOSTKEYS_DIRECT:
        body = textwrap.indent(settings, "  ") + "\n" if settings else ""
        out.append(Case(f"hostkey-{name}", f"Host {{B}}\n  User root\n  IdentityFile {{plain}}\n{body}", "{B}",
                        expect, known=known, global_known=global_known))
    for name, config, target, known, expect, diverge in HOSTKEYS_CHAIN:
        out.append(Case(f"chain-{name}", config, target, expect, known=known, diverge=diverge))
    for name, config, target, expect in LAYOUT:
        out.append(Case(f"layout-{name}", config, target, expect))
    for name, config, cfg, known, target, expect in ANSIBLE_CFG:
        out.append(Case(f"ansible-{name}", config, target, expect, known=known, ansible_cfg=cfg))
    for name, config, vars_, known, expect in INVENTORY:
        out.append(Case(f"inventory-{name}", config, INVENTORY_TARGETS.get(name, "{B}"), expect, known=known,
                        vars=vars_, agent=INVENTORY_AGENT.get(name, ())))
    return out


CASES = cases()


def test_the_suite_has_at_least_a_hundred_cases():
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


# --- running one case ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net():
    reason = sshnet.why_not()
    if reason:
        print(f"skipping the SSH differential tests: {reason}")
        pytest.skip(reason)
    if not ANSIBLE.exists():
        pytest.skip(f"ansible-core is not installed beside {sys.executable}")
    n = sshnet.up()
    try:
        yield n
    finally:
        sshnet.down(n)


class World:
    """One case's files: ssh_config, known_hosts, keys named by tokens, an agent."""

    def __init__(self, net, case: Case, root: Path):
        self.net, self.case, self.dir = net, case, root
        (root / "conf.d").mkdir(parents=True)
        self.values = {"B": B, "A": A, "BI": BI, "plain": str(net.keys["plain"]), "enc": str(net.keys["encrypted"]),
                       "agentkey": str(net.keys["agent"]), "stranger": str(net.keys["stranger"]), "dir": str(root),
                       "cfg": str(root / "ssh_config"), "kB": net.host_keys["bastion"], "kA": net.host_keys["app"], "kCA": net.host_keys["ca"],
                       "hB": hashed(net, B, "bastion"), "hA": hashed(net, A, "app")}
        self.config = root / "ssh_config"
        self.config.write_text(self.fill(case.config + TAIL))
        (root / "conf.d" / "other.conf").write_text("Host some-other-host\n  User nobody-else\n"
                                                     "  IdentityFile /nonexistent/other\n")
        # the case's, else an empty one: none of the checkout's or the machine's
        (root / "ansible.cfg").write_text(self.fill(case.ansible_cfg or "[defaults]\n"))
        (root / "conf.d" / "key.inc").write_text(self.fill("IdentityFile {plain}\n"))
        for name in ("id_root", f"id_{B}_22", f"id_{A}_22", f"id_{B}_2222"):
            (root / name).write_bytes(net.keys["plain"].read_bytes())
            (root / name).chmod(0o600)

    def fill(self, text: str) -> str:
        return text.format(**self.values)

    def reset(self) -> None:
        """The known_hosts files as the case starts them (before each side runs)."""
        for name in ("kh_first", "kh_bastion"):
            (self.dir / name).unlink(missing_ok=True)
        (self.dir / "known_hosts").write_text(self.fill(self.case.known))
        (self.dir / "global_known_hosts").write_text(self.fill(self.case.global_known))

    def known_after(self) -> set[tuple[str, str]]:
        """(name, key) of every known_hosts line, hashed names matched back to the names in play."""
        names = [B, A, BI, f"[{B}]:2222", "bastion.internal", "app.internal", "app"]
        out = set()
        for name in ("known_hosts", "kh_first", "kh_bastion"):
            path = self.dir / name
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                fields = line.split()
                marker = fields.pop(0) + " " if fields and fields[0].startswith("@") else ""
                if len(fields) < 3 or line.startswith("#"):
                    continue
                host = fields[0]
                if host.startswith("|1|"):
                    host = next((n for n in names if knownhosts._hashed_match(host, n)), "?hashed")
                out.add((f"{name}: {marker}{host}", fields[2]))
        return out


def hashed(net, name: str, host: str) -> str:
    import paramiko

    kind, data = net.host_keys[host].split()[:2]
    return knownhosts.line_for(name, paramiko.PKey.from_type_string(kind, base64.b64decode(data)), hashed=True)


def start_agent(world: World, keys: tuple[str, ...]) -> subprocess.Popen | None:
    if not keys:
        return None
    sock = world.dir / "agent.sock"
    proc = sshnet.start_agent(sock)
    for key in keys:
        path = world.net.keys["encrypted" if key == "enc" else "agent" if key == "agentkey" else key]
        sshnet.ssh_add(path, sock, "correct horse" if key == "enc" else "")
    return proc


def who(output: str) -> str:
    """`user address...` of the host the command ran on."""
    words = output.replace("\r", " ").split()
    return " ".join(words[:1] + sorted(w for w in words[1:] if w.startswith("10.79.")))


def oracle(world: World, env: dict) -> tuple[bool, str, str]:
    case = world.case
    target = world.fill(case.target)
    if case.vars or case.ansible_cfg:
        inventory = world.dir / "oracle_inventory.yml"
        inventory.write_text(inventory_text(world, target))
        done = subprocess.run([str(ANSIBLE), "-i", str(inventory), "target", "-m", "raw", "-a", WHO, "-o"],
                              capture_output=True, text=True, cwd=world.dir,
                              env=ansible_env(env, world),
                              stdin=subprocess.DEVNULL, timeout=120, start_new_session=True)
        m = re.search(r"\| (?:CHANGED|SUCCESS) \| rc=0 \| \(stdout\) (.*?)(?:\(stderr\)|$)", done.stdout)
        return (m is not None, who(m.group(1).replace("\\r", " ").replace("\\n", " ")) if m else "",
                done.stdout + done.stderr)
    done = subprocess.run(["ssh", "-F", str(world.config), target, WHO], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=60, start_new_session=True)
    return done.returncode == 0, who(done.stdout) if done.returncode == 0 else "", done.stderr


ANSIBLE_ENV = {"ANSIBLE_SSH_ARGS": "", "ANSIBLE_SSH_RETRIES": "0", "ANSIBLE_TIMEOUT": "10",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_GATHERING": "explicit",
               "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"}


def ansible_env(env: dict, world: World) -> dict:
    """The oracle's environment: no ControlPersist between cases (ssh_args empty), unless the
    case's ansible.cfg sets ssh_args itself (which then replaces Ansible's default too)."""
    out = {**env, **ANSIBLE_ENV, "ANSIBLE_CONFIG": str(world.dir / "ansible.cfg")}
    if "ssh_args" in world.case.ansible_cfg.replace("ssh_common_args", "").replace("ssh_extra_args", ""):
        del out["ANSIBLE_SSH_ARGS"]
    return out


def inventory_text(world: World, target: str) -> str:
    import yaml

    vars_ = {k: world.fill(v) if isinstance(v, str) else v for k, v in world.case.vars.items()}
    if "-F {cfg}" not in world.case.ansible_cfg:  # else the case's ansible.cfg names the ssh config itself
        own = f"-F {world.config}"
        vars_["ansible_ssh_common_args"] = f"{own} {vars_.get('ansible_ssh_common_args', '')}".strip()
    vars_["ansible_host"] = target
    return yaml.safe_dump({"all": {"hosts": {"target": vars_}}})


def tool(world: World, env: dict, monkeypatch) -> tuple[bool, str, str]:
    inventory = world.dir / "tool_inventory.yml"
    inventory.write_text(inventory_text(world, world.fill(world.case.target)))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    if "SSH_AUTH_SOCK" in env:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
    monkeypatch.setenv("ANSIBLE_CONFIG", str(world.dir / "ansible.cfg"))  # as the oracle has it
    try:
        with Remote(load_inventory(inventory).host("target")) as remote:
            return True, who(remote.run(["sh", "-c", WHO], timeout=30).stdout), ""
    except (HostUnreachable, InputError) as exc:
        return False, "", str(exc)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_tool_agrees_with_the_oracle(case, net, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    world = World(net, case, tmp_path)
    agent = start_agent(world, case.agent)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    if agent and case.agent_env:
        env["SSH_AUTH_SOCK"] = str(tmp_path / "agent.sock")
    try:
        world.reset()
        theirs_ok, theirs_who, theirs_said = oracle(world, env)
        theirs_known = world.known_after()
        world.reset()
        ours_ok, ours_who, ours_said = tool(world, env, monkeypatch)
        ours_known = world.known_after()
    finally:
        if agent:
            agent.kill()
            agent.wait(timeout=10)
    assert theirs_ok == (case.expect == "ok"), f"the oracle itself said: {theirs_said[:1500]}"
    if case.diverge:
        assert not ours_ok, f"deliberately stricter ({case.diverge}), yet the tool connected"
        return
    assert ours_ok == theirs_ok, f"oracle: {theirs_ok} ({theirs_said[-300:]}); tool: {ours_ok} ({ours_said})"
    assert ours_who == theirs_who
    assert ours_known == theirs_known, "known_hosts written differently"
    if not ours_ok:
        assert "\n" not in ours_said and "Traceback" not in ours_said


# --- which hosts a pattern selects and reaches --------------------------------------------------

SELECTION_PATTERNS = ["bastions", "apps", "bastions:apps", "all:!localhost:!vaulted:!tools", "~(bastion|app)1"]


def test_inspect_selects_and_reaches_the_hosts_ansible_pings(net, tmp_path):
    """An inventory as real ones are: `localhost ansible_connection=local`, a group whose vars file
    is vaulted (no password given), a group with Jinja in a var the tool reads. For each pattern,
    `inspect --limit` reaches exactly the hosts `ansible PATTERN -m ping` answers from."""
    import yaml

    world = World(net, Case("selection", BASTION + "Host 10.79.1.*\n  ProxyJump bastion\n", "{B}", "ok"), tmp_path)
    world.reset()
    (tmp_path / "inv").mkdir()
    common = {"ansible_user": "root", "ansible_ssh_private_key_file": world.fill("{plain}"),
              "ansible_ssh_common_args": f"-F {world.config}"}
    (tmp_path / "inv" / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": common,
        "hosts": {"localhost": {"ansible_connection": "local"}},
        "children": {"bastions": {"hosts": {"bastion1": {"ansible_host": B}}},
                     "apps": {"hosts": {"app1": {"ansible_host": A}}},
                     "vaulted": {"hosts": {"secret1": {"ansible_host": "10.79.0.99"}}},
                     "tools": {"hosts": {"tool1": {"ansible_host": "10.79.0.98"}}}}}}))
    (tmp_path / "inv" / "group_vars").mkdir()
    secret = tmp_path / "inv" / "group_vars" / "vaulted.yml"
    secret.write_text("ansible_user: admin\n")
    (tmp_path / "vault-pass").write_text("not given to either side\n")
    subprocess.run([str(ANSIBLE.with_name("ansible-vault")), "encrypt", "--vault-password-file",
                    str(tmp_path / "vault-pass"), str(secret)], check=True, capture_output=True,
                   env={**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")})
    (tmp_path / "inv" / "group_vars" / "tools.yml").write_text(
        'ansible_python_interpreter: "{{ ansible_playbook_python }}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "ANSIBLE_VAULT_PASSWORD_FILE")}
    env["ANSIBLE_CONFIG"] = str(tmp_path / "ansible.cfg")
    for pattern in SELECTION_PATTERNS:
        pinged = subprocess.run([str(ANSIBLE), "-i", str(tmp_path / "inv"), pattern, "-m", "ping", "-o"],
                                capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=180,
                                env={**env, **ANSIBLE_ENV}, start_new_session=True)
        theirs = sorted(re.findall(r"^(\S+) \| SUCCESS", pinged.stdout, re.M))
        done = subprocess.run([sys.executable, "-m", "remediation", "inspect", "-i", str(tmp_path / "inv"),
                               "--limit", pattern, "--fast", "--json", "-"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1], env=env, stdin=subprocess.DEVNULL, timeout=180)
        assert done.stdout.strip(), f"{pattern}: inspect printed no report (exit {done.returncode}): {done.stderr[-1500:]}"
        report = json.loads(done.stdout)
        ours = sorted(name for name, row in report["hosts"].items() if row["status"] != "unreachable")
        assert theirs, f"{pattern}: ansible reached nothing: {pinged.stdout[-500:]} {pinged.stderr[-500:]}"
        assert ours == theirs, f"{pattern}: tool {report['hosts']} / ansible {pinged.stdout[-800:]}"
