"""Fleet rollout on the lab: canary and batches, failure threshold, unreachable hosts,
a killed controller, resume, and host locks."""
from __future__ import annotations

import os
import signal
import time

import pytest

from labtools import events, invoke, plant_start_failure, snapshot, start_invoke, wait_for
from remediation.transport import lock
from remediation.config.inventory import load_inventory
from lab import lab
from lab import network
from lab.inventory import INVENTORY_PATH
from remediation.transport.remote import Remote

pytestmark = pytest.mark.lab


def test_full_rollout_canary_first_then_batches(fleet, quick_playbook, runs_dir):
    specs = [fleet.host(name) for name in sorted(fleet.specs)]
    before = {s.name: snapshot(s) for s in specs}
    try:
        rc, report, err = invoke("rollout", "--limit", "all", "--serial", "1,50%", "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc == 0, err
        assert report["batches"][0] == ["lab1"] and len(report["batches"]) == 3
        assert [len(b) for b in report["batches"]] == [1, 3, 2]
        assert {n: h["status"] for n, h in report["hosts"].items()} == {s.name: "remediated" for s in specs}
        kinds = {(s.restart, s.database) for s in specs}
        assert kinds == {("supervisor", "postgres"), ("supervisor", "mariadb"), ("compose", "postgres"),
                         ("compose", "mariadb")}
        _, evs = events(runs_dir)
        canary_done = next(e["t"] for e in evs if e["event"] == "result" and e["host"] == "lab1")
        later_starts = [e["t"] for e in evs if e["event"] == "stage" and e["host"] != "lab1"]
        assert later_starts and min(later_starts) > canary_done  # canary finished before batch 2 began
        batch_order = [e["batch"] for e in evs if e["event"] == "batch-start"]
        assert batch_order == [1, 2, 3]
        for name, host in report["hosts"].items():
            assert host["after"]["new_db_connections"] <= 16
        # emergency rollback of the whole run
        rc, rolled, err = invoke("rollback", "--yes", "--run", report["run_id"], "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        assert all(row["outcome"].startswith("rolled back") for row in rolled["hosts"].values()), rolled
        for s in specs:
            assert snapshot(s) == before[s.name], s.name
            assert lab.app_healthy(s)
    finally:
        lab.reset(specs)


def test_failing_host_rolled_back_alone_and_rollout_stops(fleet, quick_playbook, runs_dir, fault_matrix):
    lab1, lab2, lab5, lab6 = (fleet.host(n) for n in ("lab1", "lab2", "lab5", "lab6"))
    plant_start_failure(lab5)
    planted, untouched = snapshot(lab5), snapshot(lab2)
    try:
        rc, report, err = invoke("rollout", "--limit", "lab1:lab5:lab6:lab2", "--serial", "1,2",
                                 "--max-fail-percentage", "0", "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc != 0
        hosts = report["hosts"]
        assert hosts["lab1"]["status"] == "remediated"
        assert hosts["lab5"]["status"] == "rolled_back"
        assert hosts["lab6"]["status"] == "remediated"  # same batch: it ran alongside and succeeded
        assert "lab2" not in hosts and report["skipped"] == ["lab2"]
        assert "lab5" in report["stopped"]
        assert snapshot(lab5) == planted and snapshot(lab2) == untouched
        assert lab.app_healthy(lab5) and lab.app_healthy(lab2)
        assert "lab5" in err.strip().splitlines()[-1]
        fault_matrix.add("app fails to start on one host of a rollout (rolled back alone, rollout stopped)",
                         survived=True, lost=0)
    finally:
        lab.reset([lab1, lab2, lab5, lab6])


def test_cut_off_host_counts_as_unreachable_and_is_named(fleet, quick_playbook, runs_dir, fault_matrix):
    lab3, lab4 = fleet.host("lab3"), fleet.host("lab4")
    network.cut(lab3)
    try:
        rc, report, err = invoke("rollout", "--limit", "lab3:lab4", "--serial", "2", "--max-fail-percentage", "50",
                                 "--yes", "--json", "-", "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc != 0
        assert report["hosts"]["lab3"]["status"] == "unreachable"
        assert "cannot reach deploy@10.77.0.12:22" in report["hosts"]["lab3"]["error"]  # the resolved login
        assert report["hosts"]["lab4"]["status"] == "remediated"
        assert "lab3 (unreachable" in err.strip().splitlines()[-1]
        fault_matrix.add("host unreachable before the run", survived=True, lost=0)
    finally:
        network.restore(lab3)
        lab.reset([lab3, lab4])


def test_controller_killed_mid_rollout_then_rollback_run(fleet, quick_playbook, runs_dir, fault_matrix):
    specs = [fleet.host(n) for n in ("lab1", "lab2", "lab3", "lab4")]
    before = {s.name: snapshot(s) for s in specs}
    proc = start_invoke(runs_dir, "rollout", "--yes", "--limit", "lab1:lab2:lab3:lab4", "--serial", "4", "--forks", "4",
                         "--playbook", str(quick_playbook))
    try:
        def mid_run():
            _, evs = events(runs_dir)
            done = [e for e in evs if e["event"] == "change-done"]
            restarting = [e for e in evs if e["event"] == "stage" and e["stage"] in ("restart", "verify")]
            return len(done) >= 4 and restarting
        wait_for(mid_run, 240, "files written and a restart under way")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        run_id, _ = events(runs_dir)
        rc, rolled, err = invoke("rollback", "--yes", "--run", run_id, "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        for s in specs:
            assert snapshot(s) == before[s.name], s.name
            lab.wait_healthy(s, timeout=60)
            assert not (s.dir / "run" / "lock" / "remediation.lock").exists(), f"{s.name}: dead run's lock left"
        fault_matrix.add("controller killed (kill -9) after writes, during restarts", survived=True, lost=0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        lab.reset(specs)


def test_resume_completes_an_interrupted_rollout(fleet, quick_playbook, runs_dir, fault_matrix):
    specs = [fleet.host(n) for n in ("lab2", "lab3", "lab4")]
    proc = start_invoke(runs_dir, "rollout", "--yes", "--limit", "lab2:lab3:lab4", "--serial", "1", "--playbook", str(quick_playbook))
    try:
        wait_for(lambda: any(e["event"] == "result" and e["host"] == "lab2" for e in events(runs_dir)[1]),
                 240, "the canary to finish")
        wait_for(lambda: any(e["event"] == "stage" and e["host"] == "lab3" for e in events(runs_dir)[1]),
                 60, "the next host to start")
        time.sleep(8)  # well inside lab3's flow
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        run_id, _ = events(runs_dir)
        rc, report, err = invoke("rollout", "--resume", run_id, "--yes", "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        statuses = {n: h["status"] for n, h in report["hosts"].items()}
        assert statuses == {"lab2": "remediated", "lab3": "remediated", "lab4": "remediated"}
        _, evs = events(runs_dir)
        assert sum(1 for e in evs if e["event"] == "remediated" and e["host"] == "lab2") == 1  # not redone
        for s in specs:
            assert "worker_class = 'gthread'" in (s.dir / "srv" / "app" / "gunicorn.conf.py").read_text()
        fault_matrix.add("controller killed mid-rollout, then --resume", survived=True, lost=0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        lab.reset(specs)


def test_second_run_refuses_a_locked_host_and_unlock_breaks_it(fleet, quick_playbook, runs_dir, fault_matrix):
    spec = fleet.host("lab6")
    inv = load_inventory(INVENTORY_PATH)
    with Remote(inv.host("lab6")) as remote:
        lock.acquire(remote, "20990101-000000-other")
    before = snapshot(spec)
    try:
        rc, report, err = invoke("remediate", "--host", "lab6", "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc != 0
        run = report["hosts"]["lab6"]
        assert run["status"] == "refused" and "locked by run 20990101-000000-other" in run["error"]
        assert snapshot(spec) == before
        fault_matrix.add("two runs on one host at once (second refused)", survived=True, lost=0)
    finally:
        rc, _, err = invoke("unlock", "--host", "lab6", "--yes", runs_dir=runs_dir, check_json=False)
    assert rc == 0, err
    with Remote(inv.host("lab6")) as remote:
        lock.acquire(remote, "check-free")
        lock.release(remote, "check-free")
