"""A small SSH-only network for the SSH tests (not the lab): a bastion on two bridges and an
app host reachable only through it, each a network namespace running its own sshd.

  controller (root ns) --rmssh0 10.79.0.0/24-- bastion 10.79.0.10 / 10.79.1.10 --rmssh1-- app 10.79.1.20

rmssh1 has no address in the root namespace and nothing routes: the app host is reachable
only by a jump through the bastion. Logins are root or rmsshu (a system user made once) with keys; the "stranger" key is authorized
for nobody.
Everything is removed on exit, and stale leftovers of an earlier run are removed first. The
names are fixed, so one test session at a time holds the network (LOCK): a second one waits
instead of tearing down the first one's namespaces as stale."""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "rmssh-"
BRIDGES = ("rmssh0", "rmssh1")
NAMESPACES = ("rmssh-bastion", "rmssh-app")
ROOT_LINKS = ("rmssh-b0", "rmssh-b1", "rmssh-a1")
BASTION, BASTION_INNER, APP, CONTROLLER = "10.79.0.10", "10.79.1.10", "10.79.1.20", "10.79.0.1"
SUBNETS = ("10.79.0.0/24", "10.79.1.0/24")  # 10.77/10.78 are the lab's
LOCK = "/run/lock/remediation-sshnet.lock"
USER = "rmsshu"  # the second login name; the client keys "stranger" is authorized for nobody


def why_not() -> str | None:
    """Why this machine cannot run the network, or None."""
    if os.geteuid() != 0:
        return "the SSH network tests need root (network namespaces, sshd)"
    for tool in ("ip", "ssh-keygen", "ssh-agent", "ssh-add"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-client iproute2)"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed (apt-get install openssh-server)"
    for subnet in SUBNETS:
        routes = [r for r in sh("ip", "route", "show", subnet, check=False).stdout.splitlines()
                  if r.strip() and not any(f"dev {b}" in r for b in BRIDGES)]
        if routes:
            return f"{subnet} is already in use on this machine ({routes[0].strip()})"
    return None


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def teardown_stale() -> None:
    for ns in NAMESPACES:
        out = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in out:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns, check=False)
    for link in ROOT_LINKS + BRIDGES:
        sh("ip", "link", "del", link, check=False)


@dataclass
class Net:
    dir: Path
    keys: dict[str, Path] = field(default_factory=dict)       # client keys: plain, encrypted, agent
    host_keys: dict[str, str] = field(default_factory=dict)   # host -> "ssh-ed25519 AAAA..."
    procs: list = field(default_factory=list)
    lock: object = None                                       # the open LOCK file, held until down()

    def known_line(self, name: str, host: str) -> str:
        return f"{name} {self.host_keys[host]}\n"


def _veth(root_end: str, ns: str, inner: str, bridge: str, address: str) -> None:
    sh("ip", "link", "add", root_end, "type", "veth", "peer", "name", inner, "netns", ns)
    sh("ip", "link", "set", root_end, "master", bridge, "up")
    sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", inner)
    sh("ip", "-n", ns, "link", "set", inner, "up")


def _keygen(path: Path, passphrase: str = "") -> None:
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name, "-f", str(path))


def _sshd(net: Net, ns: str, name: str, principals: str = "") -> None:
    """One host's sshd; with `principals`, its key also carries a host certificate signed by the
    network's host CA (net.host_keys["ca"]) for those names."""
    host_key = net.dir / f"{name}_host_ed25519"
    _keygen(host_key)
    net.host_keys[name] = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
    certificate = ""
    if principals:
        sh("ssh-keygen", "-q", "-s", str(net.dir / "host_ca"), "-I", name, "-h", "-n", principals,
           str(host_key.with_suffix(".pub")))
        certificate = f"HostCertificate {host_key}-cert.pub\n"
    config = net.dir / f"{name}_sshd_config"
    config.write_text(
        f"{certificate}Port 22\nPort 2222\nHostKey {host_key}\nPidFile {net.dir / name}.pid\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"AuthorizedKeysFile {net.dir / 'authorized_keys'}\nStrictModes no\nAllowTcpForwarding yes\n"
        f"LogLevel ERROR\n")
    log = open(net.dir / f"{name}_sshd.log", "w")
    net.procs.append(subprocess.Popen(["ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                                      stdout=log, stderr=log, start_new_session=True))


def _login_user() -> None:
    """A second login name on both hosts (they share the machine's passwd), for `Match user`."""
    if sh("id", "-u", USER, check=False).returncode != 0:
        sh("useradd", "--system", "-M", "-d", "/", "-s", "/bin/sh", USER)
    # not locked (with UsePAM no a locked account cannot log in by key); a home that exists, so a
    # login prints nothing of its own
    sh("usermod", "-p", "*", "-d", "/", USER)


def _wait_port(ns: str | None, address: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ns is None:
            try:
                socket.create_connection((address, 22), timeout=1).close()
                return
            except OSError:
                pass
        elif sh("ip", "netns", "exec", ns, "python3", "-c",
                f"import socket; socket.create_connection(('{address}', 22), timeout=1)", check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"sshd on {address} did not start")


def _lock(timeout: float = 300):
    """Hold LOCK (released by the kernel if this process dies), waiting for another session's run."""
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    fh = open(LOCK, "w")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() > deadline:
                fh.close()
                raise RuntimeError(f"another test session has held the SSH test network ({LOCK}) "
                                   f"for {timeout:.0f} s") from None
            time.sleep(0.2)


def up() -> Net:
    lock = _lock()
    try:
        teardown_stale()  # leftovers of a session that died (a live one would hold the lock)
        net = Net(Path(tempfile.mkdtemp(prefix="rmssh-")), lock=lock)
    except BaseException:
        lock.close()
        raise
    try:
        os.makedirs("/run/sshd", exist_ok=True)
        for bridge in BRIDGES:
            sh("ip", "link", "add", bridge, "type", "bridge")
            sh("ip", "link", "set", bridge, "up")
        sh("ip", "addr", "add", f"{CONTROLLER}/24", "dev", "rmssh0")
        for ns in NAMESPACES:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        _veth("rmssh-b0", "rmssh-bastion", "eth0", "rmssh0", BASTION)
        _veth("rmssh-b1", "rmssh-bastion", "eth1", "rmssh1", BASTION_INNER)
        _veth("rmssh-a1", "rmssh-app", "eth0", "rmssh1", APP)
        for kind, phrase in (("plain", ""), ("encrypted", "correct horse"), ("agent", ""), ("stranger", "")):
            _keygen(net.dir / f"client_{kind}", phrase)
            net.keys[kind] = net.dir / f"client_{kind}"
        _login_user()
        (net.dir / "authorized_keys").write_text("".join(
            (net.dir / f"client_{k}.pub").read_text() for k in ("plain", "encrypted", "agent")))
        net.dir.chmod(0o755)  # sshd reads authorized_keys as the user logging in (rmsshu too)
        (net.dir / "authorized_keys").chmod(0o644)
        _keygen(net.dir / "host_ca")
        net.host_keys["ca"] = " ".join((net.dir / "host_ca.pub").read_text().split()[:2])
        _sshd(net, "rmssh-bastion", "bastion", principals=f"{BASTION},bastion.internal")
        _sshd(net, "rmssh-app", "app")
        _wait_port(None, BASTION)
        _wait_port("rmssh-bastion", APP)
    except BaseException:
        down(net)
        raise
    return net


def down(net: Net) -> None:
    for proc in net.procs:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    try:
        teardown_stale()
        shutil.rmtree(net.dir, ignore_errors=True)
    finally:
        if net.lock is not None:
            net.lock.close()  # releases the flock
            net.lock = None


def start_agent(sock: Path) -> subprocess.Popen:
    """An ssh-agent on `sock`, listening when this returns (its socket file exists before it listens)."""
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
            return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"ssh-agent did not listen on {sock}") from None
            time.sleep(0.05)


def ssh_add(key: Path, sock: Path, passphrase: str = "") -> None:
    """Load `key` into the agent on `sock`, its passphrase given through SSH_ASKPASS."""
    askpass = sock.parent / f"askpass-{os.getpid()}"
    askpass.write_text(f"#!/bin/sh\necho '{passphrase}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
           "DISPLAY": ":0"}
    try:
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    finally:
        askpass.unlink()
