"""Lab hosts whose pid 1 is systemd: gunicorn runs as a real service unit.

The machine has no systemd as pid 1 and no system D-Bus (`systemd-nspawn --boot` fails with
"Failed to open system bus"). Measured to work instead: the lab host's own pid + mount + uts
namespaces (lab/hosts.py), a cgroup namespace rooted at a cgroup2 subtree made for the host
(CGROUP_PREFIX + its name), cgroup2 mounted at /sys/fs/cgroup, and
`/lib/systemd/systemd --system` exec'd as pid 1 with `container=` set. The host's
/etc/systemd/system is its own directory (the machine's enabled services never start there);
units that would touch the machine (sysctl, binfmt, tmpfiles, gettys on the real console, utmp)
are masked in it, and /dev/console is a file in the host's dir. journald keeps a volatile journal
in the host's private /run.
"""
from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

from lab.config import HostSpec
from lab.sh import LabError, run

SYSTEMD = "/lib/systemd/systemd"
UNIT_DIR = "etc-systemd-system"  # host dir name, mounted at /etc/systemd/system
CGROUP2_ROOT = Path("/sys/fs/cgroup/unified")  # the machine's cgroup2 hierarchy (hybrid layout)
CGROUP_PREFIX = "remediation-lab-"
MASKED = (  # side effects on the shared machine, or nothing to do in a lab host
    "systemd-sysctl.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
    "systemd-modules-load.service", "systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.timer", "systemd-random-seed.service", "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service", "systemd-sysusers.service", "systemd-firstboot.service",
    "getty.target", "console-getty.service", "systemd-logind.service", "sys-kernel-config.mount",
    "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "dev-hugepages.mount", "dev-mqueue.mount",
    "sys-fs-fuse-connections.mount", "kmod-static-nodes.service", "systemd-journald-audit.socket",
    "systemd-pcrphase.service", "systemd-pcrphase-sysinit.service", "systemd-repart.service",
    "systemd-machine-id-commit.service", "apt-daily.timer", "apt-daily-upgrade.timer",
)


def available() -> tuple[bool, str]:
    if not Path(SYSTEMD).exists():
        return False, f"{SYSTEMD} is missing (apt-get install systemd)"
    if not (CGROUP2_ROOT / "cgroup.procs").exists() and not Path("/sys/fs/cgroup/cgroup.procs").exists():
        return False, "no cgroup2 hierarchy on this machine"
    return True, ""


def cgroup_root() -> Path:
    """Where the machine's cgroup2 hierarchy is mounted (hybrid: .../unified; unified: /sys/fs/cgroup)."""
    return CGROUP2_ROOT if (CGROUP2_ROOT / "cgroup.procs").exists() else Path("/sys/fs/cgroup")


def cgroup_of(spec: HostSpec) -> str:
    return CGROUP_PREFIX + spec.name


def prepare(spec: HostSpec) -> list[tuple[str, str]]:
    """The host's unit dir (masks) and console file; returns the bind mounts the host needs."""
    units = spec.dir / UNIT_DIR
    units.mkdir(parents=True, exist_ok=True)
    for name in MASKED:
        link = units / name
        if not link.is_symlink():
            link.symlink_to("/dev/null")
    console = spec.dir / "console.log"
    console.touch()
    (spec.dir / "hostname").write_text(spec.name + "\n")  # systemd sets the hostname from it
    (spec.dir / "cgroup2").mkdir(exist_ok=True)
    return [(str(units), "/etc/systemd/system"), (str(console), "/dev/console"),
            (str(spec.dir / "hostname"), "/etc/hostname")]


def boot_lines(spec: HostSpec) -> list[str]:
    """The end of the host's init script: enter its cgroup, then exec systemd as pid 1.

    `ip netns exec` remounts /sys, hiding the machine's cgroup mounts: cgroup2 is mounted
    once at a scratch dir to move pid 1 into the host's subtree before `unshare --cgroup`."""
    q = shlex.quote
    scratch, group = q(str(spec.dir / "cgroup2")), q(cgroup_of(spec))
    inner = ("mount -t cgroup2 cgroup2 /sys/fs/cgroup && "
             f"exec env container=remediation-lab {SYSTEMD} --system --unit=multi-user.target "
             "--show-status=no --log-level=info")
    return [f"mount -t cgroup2 cgroup2 {scratch}", f"mkdir -p {scratch}/{group}",
            f"echo $$ > {scratch}/{group}/cgroup.procs", f"umount {scratch}",
            "touch /run/lab-ready", f"exec unshare --cgroup sh -c {q(inner)}"]


def wait_booted(spec: HostSpec, nsenter: list[str], timeout: float = 30) -> str:
    """Wait until systemd says the host is running (or degraded); returns that state."""
    deadline, state = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        state = run([*nsenter, "systemctl", "is-system-running"], check=False).stdout.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(0.1)
    raise LabError(f"{spec.name}: systemd is {state or 'not answering'} after {timeout:.0f} s")


def remove_cgroup(name: str) -> None:
    """Remove a host's cgroup subtree (empty once its processes are gone), deepest first."""
    top = cgroup_root() / (CGROUP_PREFIX + name)
    if not top.exists():
        return
    for _ in range(50):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        if not top.exists():
            return
        time.sleep(0.1)
