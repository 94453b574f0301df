"""Lab hosts: a network namespace plus private pid/mount/uts namespaces.

Each host runs `unshare --pid --mount-proc --uts --mount` under `ip netns exec`, with
its own /srv, /run, /etc/hosts, /etc/supervisor, /var/log/supervisor and /var/backups bind-mounted
from its directory, so `ps aux`, files and hostname are the host's own. Daemons are
started inside it with nsenter.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from lab.config import HostSpec
from lab.sh import LabError, run

CGROUP_V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")
PRIVATE_DIRS = {  # host dir name -> mount point inside the host
    "srv": "/srv",
    "run": "/run",
    "etc-supervisor": "/etc/supervisor",
    "log-supervisor": "/var/log/supervisor",
    "backups": "/var/backups",  # the tool's host-side backups: shared, two hosts of a run would race
}


def init_script(spec: HostSpec, extra_mounts: list[tuple[str, str]] = ()) -> str:
    """Runs as pid 1 of the host: hostname, private mounts, then reap children forever (or exec
    systemd, on a systemd host)."""
    q = shlex.quote
    lines = ["set -e", f"hostname {q(spec.name)}"]
    for name, target in PRIVATE_DIRS.items():
        lines.append(f"mount --bind {q(str(spec.dir / name))} {q(target)}")
    for source, target in extra_mounts:
        lines.append(f"mount --bind {q(source)} {q(target)}")
    lines.append(f"mount --bind {q(str(spec.dir / 'hosts'))} /etc/hosts")
    lines.append("mount -t tmpfs -o mode=1777 tmpfs /tmp")
    if spec.restart in ("compose", "podman"):  # the container engine's own cgroups (v1, as the machine's)
        lines.append("mount -t tmpfs cgroup /sys/fs/cgroup")
        for ctl in CGROUP_V1_CONTROLLERS:
            lines.append(f"mkdir -p /sys/fs/cgroup/{ctl} && mount -t cgroup -o {ctl} cgroup /sys/fs/cgroup/{ctl}")
    if spec.restart == "systemd":  # systemd becomes pid 1 (lab/systemd_host.py)
        from lab import systemd_host

        return "\n".join(lines + systemd_host.boot_lines(spec))
    lines.append("touch /run/lab-ready")
    lines.append("set +e; trap : CHLD")
    lines.append("while :; do sleep 3600 & wait $!; done")
    return "\n".join(lines)


def _prepare_dirs(spec: HostSpec) -> None:
    for name in PRIVATE_DIRS:
        (spec.dir / name).mkdir(parents=True, exist_ok=True)
    (spec.dir / "run").chmod(0o755)
    (spec.dir / "hosts").write_text(f"127.0.0.1\tlocalhost\n{spec.address}\t{spec.name}\n")
    (spec.dir / "srv").chmod(0o755)


def _unshare_pidfile(spec: HostSpec) -> Path:
    return spec.dir / "unshare.pid"


def start(spec: HostSpec, extra_mounts: list[tuple[str, str]] = ()) -> int:
    """Start the host's namespaces; returns the pid of its init (pid 1 inside)."""
    _prepare_dirs(spec)
    log = open(spec.dir / "init.log", "w")
    script = spec.dir / "init.sh"
    script.write_text(init_script(spec, extra_mounts) + "\n")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", spec.netns, "unshare", "--kill-child", "--pid", "--mount-proc",
         "--uts", "--mount", "--propagation", "private", "bash", str(script)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    _unshare_pidfile(spec).write_text(str(proc.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"{spec.name}: host init exited: {(spec.dir / 'init.log').read_text()[-400:]}")
        if (spec.dir / "run" / "lab-ready").exists():
            return init_pid(spec)
        time.sleep(0.02)
    raise LabError(f"{spec.name}: host init did not get ready within 10 s")


def unshare_pid(spec: HostSpec) -> int | None:
    try:
        pid = int(_unshare_pidfile(spec).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def init_pid(spec: HostSpec) -> int:
    """The host's pid 1 as seen from the root namespace."""
    parent = unshare_pid(spec)
    if parent is None:
        raise LabError(f"{spec.name} is not running")
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    if not children:
        raise LabError(f"{spec.name}: init process not found")
    return int(children[0])


def is_running(spec: HostSpec) -> bool:
    try:
        init_pid(spec)
        return True
    except (LabError, OSError):
        return False


def nsenter(spec: HostSpec) -> list[str]:
    """Command prefix that runs a program inside the host."""
    return ["nsenter", "-t", str(init_pid(spec)), "-n", "-m", "-p", "-u", "--"]


def exec_in(spec: HostSpec, args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return run([*nsenter(spec), *args], **kwargs)


def spawn_in(spec: HostSpec, args: list[str], log_name: str) -> None:
    """Start a long-running daemon inside the host, detached, output to a log in its dir."""
    log = open(spec.dir / log_name, "ab")
    subprocess.Popen([*nsenter(spec), *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     start_new_session=True)


def kill_netns_processes(netns: str) -> None:
    """SIGKILL every process in a namespace (unshare ignores SIGTERM; --kill-child takes the rest)."""
    for _ in range(50):
        pids = run(["ip", "netns", "pids", netns], check=False).stdout.split()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        time.sleep(0.1)
    raise LabError(f"processes in {netns} survive SIGKILL")


def stop(spec: HostSpec) -> None:
    pid = unshare_pid(spec)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    kill_netns_processes(spec.netns)
