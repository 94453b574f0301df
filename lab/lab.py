"""Bring the lab fleet up, tear it down, report on it, cut hosts off and reset them.

`up` is idempotent: a running, healthy piece is kept, a missing or broken one is
(re)made, so a lab left by an earlier session is reused or repaired, never doubled.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import appfiles

from lab import config

from lab import databases

from lab import hosts

from lab import image

from lab import inventory

from lab import network
from lab.config import HostSpec
from lab.sh import LabError, run

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIRED_COMMANDS = ("sshd", "ssh-keygen", "supervisord", "mariadbd", "mariadb-install-db", "runuser",
                     "nsenter", "unshare", "ip", "sudo", "curl")
COMPOSE_COMMANDS = ("dockerd", "docker", "docker-compose", "debootstrap")
SUDOERS_FILE = Path("/etc/sudoers.d/remediation-lab")


# -- small helpers -------------------------------------------------------------------------

def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise LabError(f"{what} not ready within {timeout:.0f} s")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (lab-local URL)
        return resp.status, resp.read()


def app_healthy(spec: HostSpec) -> bool:
    try:
        return http_get(f"http://{spec.address}:{config.APP_PORT}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def db_password(spec: HostSpec) -> str:
    """The host's database password, made once and kept in the lab's secrets dir."""
    path = config.SECRETS_DIR / f"{spec.name}.db"
    if not path.exists():
        config.SECRETS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def docker_available() -> tuple[bool, str]:
    missing = [cmd for cmd in COMPOSE_COMMANDS if shutil.which(cmd) is None]
    if missing:
        return False, f"missing commands: {', '.join(missing)}"
    return True, ""


def check_prerequisites(specs: list[HostSpec]) -> None:
    missing = [cmd for cmd in REQUIRED_COMMANDS if shutil.which(cmd) is None
               and not Path("/usr/sbin", cmd).exists()]
    if any(s.restart == "compose" for s in specs):
        missing += [cmd for cmd in COMPOSE_COMMANDS if shutil.which(cmd) is None]
    if missing:
        raise LabError(f"missing on this machine: {', '.join(missing)} (run `bash .ci/run` or see README)")
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, bridges, daemons)")


# -- users and keys ------------------------------------------------------------------------

def ensure_users() -> None:
    if run(["id", config.LOGIN_USER], check=False).returncode != 0:
        run(["useradd", "-m", "-s", "/bin/bash", config.LOGIN_USER])
    run(["usermod", "-p", "*", config.LOGIN_USER])  # locked password blocks key login under UsePAM no
    if run(["id", config.NO_SUDO_USER], check=False).returncode != 0:
        run(["useradd", "-m", "-s", "/bin/bash", config.NO_SUDO_USER])
    run(["usermod", "-p", "*", config.NO_SUDO_USER])
    if run(["id", config.APP_USER], check=False).returncode != 0:
        run(["useradd", "--system", "-M", "-s", "/usr/sbin/nologin", config.APP_USER])
    rule = f"{config.LOGIN_USER} ALL=(ALL) NOPASSWD: ALL\n"
    if not SUDOERS_FILE.exists() or SUDOERS_FILE.read_text() != rule:
        tmp = SUDOERS_FILE.with_name(".remediation-lab.tmp")
        tmp.write_text(rule)
        tmp.chmod(0o440)
        run(["visudo", "-cf", tmp])
        tmp.rename(SUDOERS_FILE)


def ensure_login_key() -> None:
    config.KEYS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not config.PRIVATE_KEY.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "remediation-lab", "-f", config.PRIVATE_KEY])
    for user in (config.LOGIN_USER, config.NO_SUDO_USER):
        home = Path(run(["getent", "passwd", user]).stdout.split(":")[5])
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        auth = ssh_dir / "authorized_keys"
        auth.write_text(config.PRIVATE_KEY.with_suffix(".pub").read_text())
        auth.chmod(0o600)
        run(["chown", "-R", f"{user}:", ssh_dir])


# -- the delay proxy -----------------------------------------------------------------------

def _proxy_routes(delay_ms: int) -> dict:
    return {"delay_ms": delay_ms, "routes": [
        {"listen_host": config.BRIDGE_ADDRESS, "listen_port": config.PG_PROXY_PORT,
         "upstream_host": "127.0.0.1", "upstream_port": config.PG_PORT},
        {"listen_host": config.BRIDGE_ADDRESS, "listen_port": config.MARIADB_PROXY_PORT,
         "upstream_host": "127.0.0.1", "upstream_port": config.MARIADB_PORT},
    ]}


def set_delay(delay_ms: int) -> None:
    """Change the proxy's one-way delay; applies to connections opened from now on."""
    if delay_ms < 0:
        raise LabError("the delay cannot be negative")
    tmp = config.PROXY_CONFIG.with_suffix(".tmp")
    tmp.write_text(json.dumps(_proxy_routes(delay_ms)))
    tmp.replace(config.PROXY_CONFIG)


def current_delay() -> int | None:
    try:
        return json.loads(config.PROXY_CONFIG.read_text())["delay_ms"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def ensure_proxy() -> bool:
    if pid_alive(config.PROXY_PIDFILE) and tcp_open(config.BRIDGE_ADDRESS, config.PG_PROXY_PORT):
        return False
    stop_proxy()
    log = open(config.PROXY_LOG, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "lab.proxy", str(config.PROXY_CONFIG)],
                            cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    config.PROXY_PIDFILE.write_text(str(proc.pid))
    wait_for(lambda: tcp_open(config.BRIDGE_ADDRESS, config.PG_PROXY_PORT)
          and tcp_open(config.BRIDGE_ADDRESS, config.MARIADB_PROXY_PORT), 10, "delay proxy")
    return True


def stop_proxy() -> None:
    pid = pid_alive(config.PROXY_PIDFILE)
    if pid:
        os.kill(pid, 9)
    config.PROXY_PIDFILE.unlink(missing_ok=True)


# -- one host ------------------------------------------------------------------------------

SSHD_CONFIG = """\
ListenAddress {address}
Port 22
HostKey {host_key}
PidFile /run/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {user} {no_sudo_user}
MaxStartups 200:30:400
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


def sshd_config_text(spec: HostSpec) -> str:
    return SSHD_CONFIG.format(address=spec.address, host_key=spec.dir / "ssh_host_ed25519_key",
                              user=config.LOGIN_USER, no_sudo_user=config.NO_SUDO_USER)


def _write_sshd_config(spec: HostSpec) -> None:
    key = spec.dir / "ssh_host_ed25519_key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", key])
    (spec.dir / "sshd_config").write_text(sshd_config_text(spec))


def host_key_line(spec: HostSpec) -> str:
    keytype, blob = (spec.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    return f"{spec.address} {keytype} {blob}\n"


def migrate(spec: HostSpec) -> None:
    """Create the app's tables and seed data (from the controller, through the proxy)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": appfiles.settings_module(spec), "PYTHONDONTWRITEBYTECODE": "1"}
    run([config.APP_VENV / "bin" / "python", "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=spec.dir / "srv" / "app", env=env, timeout=180)


def _start_app(spec: HostSpec, before_up=None, up=None) -> None:
    """Start the host's manager and app; a compose host's engine, then `up` (by default
    compose_up: the app dir's docker-compose.yml)."""
    if spec.restart == "supervisor":
        hosts.exec_in(spec, ["supervisord", "-c", "/etc/supervisor/supervisord.conf"])
        return
    data_root = config.DOCKER_DATA_DIR / spec.name
    data_root.mkdir(parents=True, exist_ok=True)
    hosts.spawn_in(spec, ["dockerd", "--data-root", str(data_root), "-H", "unix:///run/docker.sock",
                          "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                          "--pidfile", "/run/docker.pid"], "dockerd.log")
    wait_for(lambda: hosts.exec_in(spec, ["docker", "info"], check=False).returncode == 0, 30,
          f"{spec.name}: docker engine")
    hosts.exec_in(spec, ["docker", "container", "prune", "-f"])
    if hosts.exec_in(spec, ["docker", "image", "inspect", config.APP_IMAGE], check=False).returncode != 0:
        hosts.exec_in(spec, ["docker", "import", "--change",
                             "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                             str(config.ROOTFS_TAR), config.APP_IMAGE], timeout=300)
    if before_up is not None:
        before_up(spec)
    (up or compose_up)(spec)


def compose_up(spec: HostSpec, *extra: str) -> None:
    hosts.exec_in(spec, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "up", "-d", *extra], timeout=180)


def fresh_namespaces(spec: HostSpec) -> None:
    """An empty host directory, the host's network and its namespaces (pid 1 running)."""
    if spec.dir.exists():
        shutil.rmtree(spec.dir)
    spec.dir.mkdir(parents=True)
    spec.dir.chmod(0o755)
    network.create_host_network(spec)
    hosts.start(spec)


def create_host(spec: HostSpec) -> None:
    """Make the host from scratch: network, namespaces, files, database, sshd, the app."""
    destroy_host(spec.netns)
    fresh_namespaces(spec)
    password = db_password(spec)
    appfiles.write_host_files(spec, password)
    databases.ensure_host_database(spec.database, spec.db_name, spec.db_user, password)
    migrate(spec)
    start_sshd(spec)
    _start_app(spec)
    wait_healthy(spec)


def start_sshd(spec: HostSpec) -> None:
    """sshd inside the host, logging each connection (VERBOSE) to sshd.log in the host's dir."""
    _write_sshd_config(spec)
    (spec.dir / "run" / "sshd").mkdir(mode=0o755, exist_ok=True)
    hosts.exec_in(spec, ["/usr/sbin/sshd", "-t", "-f", str(spec.dir / "sshd_config")])
    hosts.exec_in(spec, ["/usr/sbin/sshd", "-f", str(spec.dir / "sshd_config"), "-E", str(sshd_log(spec))])


def sshd_log(spec: HostSpec) -> Path:
    return spec.dir / "sshd.log"


def ssh_connections(spec: HostSpec) -> int:
    """TCP connections sshd has accepted so far (counted from its own log)."""
    try:
        text = sshd_log(spec).read_text(errors="replace")
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if "Connection from " in line)


def wait_healthy(spec: HostSpec, timeout: float = 60) -> None:
    wait_for(lambda: app_healthy(spec), timeout, f"{spec.name}: app on :{config.APP_PORT}", interval=0.2)


def host_ok(spec: HostSpec, serving=None) -> bool:
    """Running, reachable, serving (`serving(spec)`, the lab app's health URL by default), and made
    by this version of the lab (else it is rebuilt)."""
    sshd_config = spec.dir / "sshd_config"
    current = (sshd_config.exists() and sshd_config.read_text() == sshd_config_text(spec)
               and all((spec.dir / name).is_dir() for name in hosts.PRIVATE_DIRS))  # else an older layout
    return (current and hosts.is_running(spec) and not network.is_cut(spec)
            and tcp_open(spec.address, 22) and (serving or app_healthy)(spec))


def destroy_host(netns: str) -> None:
    name = netns.removeprefix(config.NETNS_PREFIX)
    spec_dir = config.HOSTS_DIR / name
    pidfile = spec_dir / "unshare.pid"
    pid = pid_alive(pidfile)
    if pid:
        os.kill(pid, 9)
    if netns in network.namespaces():
        hosts.kill_netns_processes(netns)
    network.remove_namespace(netns)


def destroy_family_host(netns: str, netns_prefix: str, veth_prefix: str, hosts_root: Path) -> None:
    """Stop a host of a family living under its own namespace prefix (light, varied) and remove it."""
    pid = pid_alive(hosts_root / netns.removeprefix(netns_prefix) / "unshare.pid")
    if pid:
        os.kill(pid, 9)
    if netns in network.namespaces(netns_prefix):
        hosts.kill_netns_processes(netns)
    network.remove_namespace(netns, netns_prefix, veth_prefix)


def reset_host(spec: HostSpec) -> None:
    """Put the host back in the incident's broken state and restart its app."""
    network.restore(spec)
    (spec.dir / "run" / "lock" / "remediation.lock").unlink(missing_ok=True)  # a lock left by a killed run
    appfiles.write_host_files(spec, db_password(spec))
    restart_app(spec)


def restart_app(spec: HostSpec, program: str = "schoolsite", serving=None, compose_extra: tuple = ()) -> None:
    """Restart the host's app so edited files take effect, and wait until it serves."""
    if spec.restart == "supervisor":
        ctl = ["supervisorctl", "-c", "/etc/supervisor/supervisord.conf"]
        wait_for(lambda: hosts.exec_in(spec, [*ctl, "status", program], check=False).stdout.split()[1:2]
              not in (["STARTING"], ["STOPPING"]), 30, f"{spec.name}: supervisor program settling")
        hosts.exec_in(spec, [*ctl, "reread"])
        hosts.exec_in(spec, [*ctl, "update"])
        hosts.exec_in(spec, [*ctl, "restart", program], timeout=60)
    else:
        compose_up(spec, "--force-recreate", *compose_extra)
    wait_for(lambda: (serving or app_healthy)(spec), 60, f"{spec.name}: app on :{config.APP_PORT}", interval=0.2)


# -- the fleet -----------------------------------------------------------------------------

def parallel(fn, specs: list[HostSpec]) -> dict[str, Exception | None]:
    results: dict[str, Exception | None] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(specs)))) as pool:
        futures = {spec.name: pool.submit(fn, spec) for spec in specs}
        for name, future in futures.items():
            try:
                future.result()
                results[name] = None
            except Exception as exc:  # noqa: BLE001 - reported per host below
                results[name] = exc
    return results


def load_state() -> dict:
    try:
        return json.loads(config.STATE_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def current_fleet() -> list[HostSpec]:
    state = load_state()
    if not state:
        raise LabError("the lab is not up (run `invoke lab.up`)")
    return config.fleet(state["hosts"])


def find_host(name: str) -> HostSpec:
    for spec in current_fleet():
        if spec.name == name:
            return spec
    raise LabError(f"no lab host named {name!r}")


def up(count: int = 6, delay_ms: int = config.DEFAULT_DELAY_MS, say=print) -> dict:
    """Bring the fleet up (reusing what is healthy); returns what was started or kept."""
    specs = config.fleet(count)
    check_prerequisites(specs)
    started = time.monotonic()
    config.LAB_ROOT.mkdir(parents=True, exist_ok=True)
    config.LAB_ROOT.chmod(0o755)
    config.HOSTS_DIR.mkdir(exist_ok=True)
    report: dict = {"started": [], "kept": []}
    image.ensure_app_venv()
    if any(s.restart == "compose" for s in specs):
        image.ensure_rootfs_tar()
    ensure_users()
    ensure_login_key()
    for what, starter in (("bridge " + config.BRIDGE, network.ensure_bridge),
                          ("postgresql", databases.start_postgres), ("mariadb", databases.start_mariadb)):
        report["started" if starter() else "kept"].append(what)
    healthy = [s for s in specs if s.netns in network.namespaces() and host_ok(s)]
    todo = [s for s in specs if s not in healthy]
    set_delay(0 if todo else delay_ms)  # migrations run without the delay
    report["started" if ensure_proxy() else "kept"].append("delay proxy")
    wanted = {s.netns for s in specs}
    for extra in [ns for ns in network.namespaces() if ns not in wanted]:
        destroy_host(extra)
        shutil.rmtree(config.HOSTS_DIR / extra.removeprefix(config.NETNS_PREFIX), ignore_errors=True)
    failures = parallel(create_host, todo)
    set_delay(delay_ms)
    report["kept"] += [s.name for s in healthy]
    report["started"] += [name for name, exc in failures.items() if exc is None]
    broken = {name: exc for name, exc in failures.items() if exc is not None}
    config.KNOWN_HOSTS.write_text("".join(host_key_line(s) for s in specs if s.name not in broken))
    inventory.write_lab_inventory(specs)
    config.STATE_FILE.write_text(json.dumps({"hosts": count, "delay_ms": delay_ms, "up_since": time.time()}))
    report["seconds"] = round(time.monotonic() - started, 1)
    if broken:
        raise LabError("; ".join(f"{name}: {exc}" for name, exc in broken.items()))
    return report


def reset(specs: list[HostSpec] | None = None) -> None:
    """Every (or the given) host back to the incident's broken state, serving."""
    specs = specs or current_fleet()
    failures = {n: e for n, e in parallel(reset_host, specs).items() if e}
    if failures:
        raise LabError("; ".join(f"{name}: {exc}" for name, exc in failures.items()))


def _graceful_compose_down(spec: HostSpec) -> None:
    if spec.restart == "compose" and hosts.is_running(spec):
        hosts.exec_in(spec, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "down", "-t", "2"],
                      check=False, timeout=60)


def down(say=print) -> list[str]:
    """Remove every namespace, link, process, mount and container the lab made."""
    from lab import light, variety_hosts  # they live under the lab's root and use its users, key and bridge

    removed = [f"{n} light host(s)" for n in [light.down()] if n]
    removed += [f"{n} varied host(s)" for n in [variety_hosts.down()] if n]
    names = set(network.namespaces())
    if config.HOSTS_DIR.exists():
        names |= {config.NETNS_PREFIX + d.name for d in config.HOSTS_DIR.iterdir() if d.is_dir()}
    specs = {s.netns: s for s in config.fleet(config.MAX_HOSTS)}
    parallel(_graceful_compose_down, [specs[n] for n in names if n in specs])
    for netns in sorted(names):
        destroy_host(netns)
        removed.append(netns)
    for veth in network.stale_veths():
        run(["ip", "link", "del", veth], check=False)
    stop_proxy()
    databases.stop_postgres()
    databases.stop_mariadb()
    network.remove_bridge()
    SUDOERS_FILE.unlink(missing_ok=True)
    if config.LAB_ROOT.exists():
        shutil.rmtree(config.LAB_ROOT)
    inventory.remove_lab_inventory()
    return removed


def status() -> list[dict]:
    state = load_state()
    specs = config.fleet(state["hosts"]) if state else []
    rows = []
    for spec in specs:
        rows.append({
            "host": spec.name, "address": spec.address, "restart": spec.restart, "database": spec.database,
            "settings": spec.settings_shape, "running": hosts.is_running(spec), "cut": network.is_cut(spec)
            if spec.netns in network.namespaces() else None,
            "ssh": tcp_open(spec.address, 22), "app": app_healthy(spec),
        })
    return rows
