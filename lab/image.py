"""The app's Python environment: wheels, the hosts' shared venv, the compose image rootfs.

There is no image registry and pip inside a container cannot reach the package index,
so the image is a debootstrapped Debian with a venv installed from wheels built here,
cached as a tarball that each compose host's docker engine imports.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from lab import config
from lab.sh import LabError, run

REQUIREMENTS = Path(__file__).parent / "app" / "requirements.txt"
SYSTEM_PYTHON = "/usr/bin/python3"  # the app user cannot read a Python under root's home
DEBIAN_MIRROR_FILE = Path("/etc/apt/sources.list.d/debian.sources")


def _stamp_ok(stamp: Path) -> bool:
    return stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text()


def ensure_wheels() -> Path:
    """Build (once) every wheel the app needs, for the system Python."""
    stamp = config.WHEELS_DIR / ".requirements"
    if _stamp_ok(stamp):
        return config.WHEELS_DIR
    builder = config.CACHE_DIR / "wheel-builder"
    if not (builder / "bin" / "pip").exists():
        run([SYSTEM_PYTHON, "-m", "venv", builder])
    config.WHEELS_DIR.mkdir(parents=True, exist_ok=True)
    run([builder / "bin" / "pip", "wheel", "-q", "-w", config.WHEELS_DIR, "-r", REQUIREMENTS], timeout=600)
    stamp.write_text(REQUIREMENTS.read_text())
    return config.WHEELS_DIR


def ensure_app_venv() -> Path:
    """The venv every supervisor host runs gunicorn from (shared, read-only for the app)."""
    stamp = config.APP_VENV / ".requirements"
    if _stamp_ok(stamp):
        return config.APP_VENV
    wheels = ensure_wheels()
    if config.APP_VENV.exists():
        shutil.rmtree(config.APP_VENV)
    run([SYSTEM_PYTHON, "-m", "venv", config.APP_VENV])
    run([config.APP_VENV / "bin" / "pip", "install", "-q", "--no-index", "-f", wheels, "-r", REQUIREMENTS],
        timeout=600)
    stamp.write_text(REQUIREMENTS.read_text())
    return config.APP_VENV


def _debian_mirror() -> str:
    for line in DEBIAN_MIRROR_FILE.read_text().splitlines() if DEBIAN_MIRROR_FILE.exists() else ():
        if line.startswith("URIs:"):
            return line.split()[1]
    return "http://deb.debian.org/debian"


def ensure_rootfs_tar() -> Path:
    """A tarball of Debian bookworm with the app's venv at /opt/venv (for `docker import`)."""
    stamp = config.CACHE_DIR / "schoolsite-rootfs.requirements"
    if config.ROOTFS_TAR.exists() and _stamp_ok(stamp):
        return config.ROOTFS_TAR
    wheels = ensure_wheels()
    base = config.CACHE_DIR / "bookworm-minbase"
    if not (base / "usr" / "bin" / "python3").exists():
        partial = base.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        run(["debootstrap", "--variant=minbase",
             "--include=python3,python3-venv,procps,curl,libmariadb3,ca-certificates",
             "bookworm", partial, _debian_mirror()], timeout=900)
        partial.rename(base)
    root = config.CACHE_DIR / "schoolsite-rootfs"
    shutil.rmtree(root, ignore_errors=True)
    run(["cp", "-a", base, root])
    shutil.copytree(wheels, root / "tmp" / "wheels")
    shutil.copy(REQUIREMENTS, root / "tmp" / "requirements.txt")
    run(["chroot", root, "/usr/bin/python3", "-m", "venv", "/opt/venv"])
    run(["chroot", root, "/opt/venv/bin/pip", "install", "-q", "--no-index", "-f", "/tmp/wheels",
         "-r", "/tmp/requirements.txt"], timeout=600, env={**os.environ, "PIP_CONFIG_FILE": "/dev/null"})
    shutil.rmtree(root / "tmp" / "wheels")
    partial_tar = config.ROOTFS_TAR.with_suffix(".partial")
    run(["tar", "-C", root, "-cf", partial_tar, "."], timeout=600)
    partial_tar.rename(config.ROOTFS_TAR)
    shutil.rmtree(root)
    stamp.write_text(REQUIREMENTS.read_text())
    if not config.ROOTFS_TAR.exists():
        raise LabError("the app image rootfs was not written")
    return config.ROOTFS_TAR
