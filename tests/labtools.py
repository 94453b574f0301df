"""Helpers shared by the lab tests: run the CLI as a user would, snapshot app files,
read a run's journal, wait for it, plant failures, write inventory variants."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from lab import lab
from lab.inventory import INVENTORY_PATH

ROOT = Path(__file__).resolve().parents[1]
APP_FILES = ("gunicorn.conf.py", "schoolsite/settings.py", "schoolsite/settings/base.py",
             "schoolsite/settings/production.py", "schoolsite/settings/test.py", "schoolsite/wsgi.py",
             "docker-compose.yml")


def invoke_text(*args: str, runs_dir: Path) -> subprocess.CompletedProcess:
    """Run `invoke ARGS` from the project root, output as text."""
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "REMEDIATION_RUNS_DIR": str(runs_dir)}, timeout=900)


def invoke(*args: str, runs_dir: Path, check_json: bool = True) -> tuple[int, dict | None, str]:
    """Run `invoke ARGS` from the project root; (exit code, JSON on stdout or None, stderr)."""
    proc = invoke_text(*args, runs_dir=runs_dir)
    data = json.loads(proc.stdout) if check_json and proc.stdout.strip().startswith("{") else None
    return proc.returncode, data, proc.stderr


def start_invoke(runs_dir: Path, *args: str) -> subprocess.Popen:
    """Start `invoke ARGS` in the background, in its own process group (so it can be killed -9)."""
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "REMEDIATION_RUNS_DIR": str(runs_dir)})


def snapshot(spec) -> dict[str, str]:
    """sha256 of each app file on a lab host (what 'byte-identical' is checked against)."""
    app = spec.dir / "srv" / "app"
    return {rel: hashlib.sha256((app / rel).read_bytes()).hexdigest() for rel in APP_FILES if (app / rel).exists()}


def events(runs_dir: Path) -> tuple[str, list[dict]]:
    """The run id and journal events of the (single) run in a runs dir."""
    runs = [p for p in runs_dir.iterdir() if (p / "run.json").exists()] if runs_dir.exists() else []
    if not runs:
        return "", []
    path = runs[0] / "events.jsonl"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return runs[0].name, out


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def plant_start_failure(spec) -> None:
    """Make the host's app unable to start once CONN_HEALTH_CHECKS is on (and restart it)."""
    wsgi = spec.dir / "srv" / "app" / "schoolsite" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + (
        "\nfrom django.conf import settings\n"
        "if settings.DATABASES['default'].get('CONN_HEALTH_CHECKS'):\n"
        "    raise RuntimeError('planted failure: this app cannot start with health checks')\n"))
    lab.restart_app(spec)


def inventory_with(tmp_path: Path, host: str, **host_vars) -> Path:
    """A copy of the lab inventory with extra variables on one host."""
    data = yaml.safe_load(INVENTORY_PATH.read_text())
    for group in data["all"]["children"].values():
        if host in (group.get("hosts") or {}):
            group["hosts"][host] = {**(group["hosts"][host] or {}), **host_vars}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


QUICK_REQUESTS = 20  # above the default target's new-connection limit (2 x 8), else the count cannot fail


def playbook_variant(directory: Path, name: str, requests: int, **thresholds) -> Path:
    """The default playbook with fewer timed requests (and optional threshold overrides)."""
    data = yaml.safe_load((ROOT / "playbooks" / "gevent-to-gthread.yml").read_text())
    data["verify"]["requests"] = requests
    data["verify"]["thresholds"].update(thresholds)
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def tree_snapshot(*roots: Path) -> dict[str, tuple]:
    """Every entry under each root, as it is on disk: files by sha256, mode and owner, symlinks by
    their target (not followed), directories by mode and owner. __pycache__ is the app's own."""
    out: dict[str, tuple] = {}
    for root in roots:
        for path in sorted([root, *root.rglob("*")]):
            if "__pycache__" in path.parts or not os.path.lexists(path):
                continue
            st = path.lstat()
            if path.is_symlink():
                out[str(path)] = ("symlink", os.readlink(path))
            elif path.is_dir():
                out[str(path)] = ("dir", st.st_mode, st.st_uid, st.st_gid)
            else:
                out[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode,
                                  st.st_uid, st.st_gid)
    return out


def master_pid(spec) -> str:
    """The host's gunicorn master pid (a restart changes it)."""
    from lab import hosts

    return hosts.exec_in(spec, ["pgrep", "-o", "-f", "gunicorn -c"]).stdout.strip()
