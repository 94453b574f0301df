"""A process in a mount namespace of its own is not in a container when its root is the host's:
systemd gives a unit with PrivateTmp= (ProtectSystem=, ProtectHome=...) such a namespace (esdc-ce's
esdc@.service, real-file host real10), and its paths are host paths. Real processes: `unshare -m`
(the same root, as systemd does it) and `unshare -m chroot DIR` (another root, as a container)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from agent_payload import hostagent

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root and unshare(1)")


def started(argv: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(argv)
    for _ in range(100):  # until the sleep runs inside the new namespace
        try:
            if os.readlink(f"/proc/{proc.pid}/exe").endswith("sleep"):
                return proc
        except OSError:
            pass
        time.sleep(0.02)
    return proc


def namespaced(argv: list[str]):
    proc = started(argv)
    try:
        me = os.getpid()  # the host here (this test may itself run in a container: not pid 1)
        return hostagent.mount_ns(proc.pid) != hostagent.mount_ns(me), hostagent.host_filesystem(proc.pid, me)
    finally:
        proc.kill()
        proc.wait()


def test_a_private_mount_namespace_over_the_host_root_is_the_host():
    own_ns, host = namespaced(["unshare", "-m", "sleep", "30"])
    assert own_ns and host


def test_another_root_is_a_container_the_engine_does_not_know(tmp_path):
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    sleep = shutil.which("sleep")
    shutil.copy(sleep, root / "bin" / "sleep")  # its libraries: the host's, bound in below
    for lib in ("lib", "lib64", "usr"):
        if os.path.isdir(f"/{lib}"):
            (root / lib).mkdir(exist_ok=True)
            subprocess.run(["mount", "--bind", f"/{lib}", str(root / lib)], check=False)
    try:
        own_ns, host = namespaced(["unshare", "-m", "chroot", str(root), "/bin/sleep", "30"])
    finally:
        for lib in ("lib", "lib64", "usr"):
            subprocess.run(["umount", str(root / lib)], check=False, capture_output=True)
    assert own_ns and not host


def test_the_host_itself():
    assert hostagent.host_filesystem(os.getpid(), os.getpid())
