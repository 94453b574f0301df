"""No request lost through a real load balancer: a fleet rollout and a fleet rollback of a group of
lab hosts behind haproxy (Debian's package, installed by .ci/setup), with the documented drain hooks
(examples/hooks/haproxy.yml, the runtime API reached on the controller instead of over SSH).

haproxy runs on the controller with one backend server per lab host (under its inventory name,
`retries 0` and no redispatch, so a refused connection is a failed request, never hidden by a
retry). Steady traffic goes through haproxy (4 clients, one request at a time each, 10 s timeout)
for the whole rollout (serial 1: one host drained at a time) and the whole rollback. Both restart
kinds are run: the gentlest (HUP) and the manager's restart pinned (`remediation_restart: manager`),
whose refused connections only the drain hides. Figures are appended to build/restart-bench.jsonl.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from labtools import INVENTORY_PATH, ROOT, invoke, snapshot
from lab import lab, traffic

pytestmark = pytest.mark.lab

HOSTS = ("lab1", "lab3")  # a supervisor host and a compose host
CLIENTS = 4
PATH = "/api/schools/primary/"
FRONT = 18080
BENCH = ROOT / "build" / "restart-bench.jsonl"
EXAMPLE = ROOT / "examples" / "hooks" / "haproxy.yml"
REMOTE_API = "ssh lb1 sudo socat stdio /run/haproxy/admin.sock"


@pytest.fixture
def balancer(fleet, tmp_path):
    if not shutil.which("haproxy") or not shutil.which("socat"):
        pytest.skip("haproxy and socat are not installed (bash .ci/setup installs them)")
    sock = tmp_path / "admin.sock"
    servers = "\n".join(f"  server {name} {fleet.host(name).address}:8000" for name in HOSTS)
    config = tmp_path / "haproxy.cfg"
    config.write_text(textwrap.dedent(f"""\
        global
          stats socket {sock} mode 600 level admin
        defaults
          mode http
          retries 0
          timeout connect 2s
          timeout client 15s
          timeout server 15s
        frontend f
          bind 10.77.0.1:{FRONT}
          default_backend app
        backend app
          balance roundrobin
        """) + servers + "\n")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("haproxy did not start")
        time.sleep(0.05)
    try:
        yield f"http://10.77.0.1:{FRONT}{PATH}", sock
    finally:
        proc.kill()
        proc.wait(timeout=10)


def inventory(tmp_path: Path, sock: Path, pin: str, drain: bool = True) -> Path:
    """The lab inventory with the documented drain hooks (haproxy's API on the controller) on the group."""
    hooks = yaml.safe_load(EXAMPLE.read_text())["web"]["vars"]
    local = {k: v.replace(REMOTE_API, f"socat stdio {sock}") for k, v in hooks.items()} if drain else {}
    data = yaml.safe_load(INVENTORY_PATH.read_text())
    for group in data["all"]["children"].values():
        for name in HOSTS:
            if name in (group.get("hosts") or {}):
                group["hosts"][name] = {**(group["hosts"][name] or {}), **local, "remediation_restart": pin}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def through(url: str, what: str, args: list[str], runs_dir: Path, pin: str) -> tuple[int, dict | None, str, dict]:
    load = traffic.Traffic({f"client{i}": url for i in range(CLIENTS)}, seconds=900, max_requests=50000,
                           pause=0.05, timeout=10)
    with load:
        time.sleep(2)
        started = time.monotonic()
        rc, report, err = invoke(*args, runs_dir=runs_dir)
        seconds = time.monotonic() - started
        time.sleep(2)
    statuses: dict = {}
    for record in load.hosts.values():
        for status, n in record.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    sent = sum(statuses.values())
    figures = {"host": "haproxy:" + "+".join(HOSTS), "manager": "supervisor+compose", "what": f"{what} ({pin})",
               "failed": sent - statuses.get("200", 0), "sent": sent, "statuses": statuses,
               "command_s": round(seconds, 1)}
    BENCH.parent.mkdir(exist_ok=True)
    with BENCH.open("a") as out:
        out.write(json.dumps(figures) + "\n")
    print(f"\n{figures}")
    return rc, report, err, figures


@pytest.mark.parametrize("pin", ["gentlest", "manager"])
def test_fleet_rollout_and_rollback_through_haproxy_lose_no_request(fleet, balancer, pin, quick_playbook, runs_dir,
                                                                     tmp_path):
    url, sock = balancer
    specs = [fleet.host(name) for name in HOSTS]
    broken = {s.name: snapshot(s) for s in specs}
    inv = inventory(tmp_path, sock, pin)
    limit = ":".join(HOSTS)
    try:
        rc, report, err, rollout = through(url, "fleet rollout, drain hooks", [
            "rollout", "--limit", limit, "--serial", "1", "--yes", "--json", "-", "-i", str(inv),
            "--playbook", str(quick_playbook)], runs_dir, pin)
        assert rc == 0, err
        for name in HOSTS:
            run = report["hosts"][name]
            assert run["status"] == "remediated", run["error"]
            applied = run["restart_kind"]["applied"]
            assert applied == ("reload-hup" if pin == "gentlest" else "manager-restart"), run["restart_kind"]
        events = [json.loads(line) for line in (runs_dir / report["run_id"] / "events.jsonl").read_text().splitlines()]
        assert {e["host"] for e in events if e["event"] == "drained"} == set(HOSTS)
        assert {e["host"] for e in events if e["event"] == "ready"} == set(HOSTS)
        rc, rolled, err, rollback = through(url, "fleet rollback, drain hooks", [
            "rollback", "--limit", limit, "--forks", "1", "--run", report["run_id"], "--yes", "--json", "-", "-i", str(inv)],
            runs_dir, pin)
        assert rc == 0, err
        assert {s.name: snapshot(s) for s in specs} == broken
        assert (rollout["failed"], rollback["failed"]) == (0, 0), (rollout, rollback)
        assert rollout["sent"] > 100 and rollback["sent"] > 20
    finally:
        lab.reset(specs)


@pytest.mark.parametrize("pin", ["gentlest", "manager"])
def test_without_drain_hooks_only_the_hup_loses_nothing(fleet, balancer, pin, quick_playbook, runs_dir, tmp_path):
    """The same rollout and rollback with no drain hooks: haproxy keeps sending each host its share.
    A HUP keeps the master's socket (0 failed, asserted); the manager's restart is measured."""
    url, sock = balancer
    specs = [fleet.host(name) for name in HOSTS]
    inv = inventory(tmp_path, sock, pin, drain=False)
    limit = ":".join(HOSTS)
    try:
        rc, report, err, rollout = through(url, "fleet rollout, no drain", [
            "rollout", "--limit", limit, "--serial", "1", "--yes", "--json", "-", "-i", str(inv),
            "--playbook", str(quick_playbook)], runs_dir, pin)
        assert rc == 0, err
        rc, _rolled, err, rollback = through(url, "fleet rollback, no drain", [
            "rollback", "--limit", limit, "--forks", "1", "--run", report["run_id"], "--yes", "--json", "-",
            "-i", str(inv)], runs_dir, pin)
        assert rc == 0, err
        if pin == "gentlest":
            assert (rollout["failed"], rollback["failed"]) == (0, 0), (rollout, rollback)
    finally:
        lab.reset(specs)
