"""Single-host remediation end to end, over SSH, on the lab's real hosts."""
from __future__ import annotations

import hashlib
import json

import pytest

from labtools import QUICK_REQUESTS, events, inventory_with, invoke, invoke_text, playbook_variant, plant_start_failure, snapshot
from lab import lab

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", ["lab1", "lab2", "lab3", "lab4"])
def test_remediate_then_unchanged_then_rollback(fleet, name, quick_playbook, runs_dir):
    spec = fleet.host(name)
    delay = lab.current_delay()
    broken = snapshot(spec)
    try:
        rc, report, err = invoke("remediate", "--host", name, "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc == 0, err
        run = report["hosts"][name]
        before, after = run["before"], run["after"]
        print(f"\n{name} before: {before}\n{name} after:  {after}")
        assert run["status"] == "remediated"
        assert (before["worker_class"], after["worker_class"]) == ("gevent", "gthread")
        assert after["threads"] == 8 and after["conn_max_age"] == 600 and after["conn_health_checks"] is True
        assert before["new_db_connections"] >= 0.8 * before["requests"]  # ~1 per request under gevent
        assert after["new_db_connections"] <= 16  # workers x threads, counted by the DB server
        assert before["acquire_ms_p50"] >= 2 * delay  # a full connect through the proxy
        assert after["acquire_ms_p95_reused"] < 5  # every slow one is a new connection the server counted
        assert any(n > 1 for n in after["worker_threads"])
        assert {c["path"] for c in run["changes"]} >= {"/srv/app/gunicorn.conf.py"}
        # the config file and the settings change, the app is not preloaded: a HUP applies it
        # (plan/restart_kind.py; tests/test_gentle_restart.py measures it under traffic)
        assert (run["restart_kind"]["kind"], run["restart_kind"]["applied"]) == ("reload-hup", "reload-hup"), run
        assert run["restart_commands"][0].startswith("kill -HUP "), run
        # the lab's gunicorn rereads nothing before a restart: patched while the baseline ran
        events = [json.loads(line) for line in (runs_dir / report["run_id"] / "events.jsonl").read_text().splitlines()]
        stages = [e["stage"] for e in events if e["event"] == "stage"]
        assert any(e["event"] == "overlap" for e in events)
        assert stages.index("baseline") < stages.index("apply") < stages.index("check-config") \
            < stages.index("baseline-wait") < stages.index("restart")
        for change in run["changes"]:
            on_disk = spec.dir / "srv" / change["path"].removeprefix("/srv/")
            assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == change["sha256_after"]
        # a second run changes nothing and restarts nothing
        rc, again, err = invoke("remediate", "--host", name, "--yes", "--json", "-",
                                "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc == 0, err
        assert again["hosts"][name]["status"] == "unchanged"
        assert again["hosts"][name]["changes"] == []
        assert again["hosts"][name]["restart_commands"] == []
        # emergency rollback after a success: byte-identical files, the old state serves
        rc, rolled, err = invoke("rollback", "--yes", "--host", name, "--run", report["run_id"], "--json", "-",
                                 runs_dir=runs_dir)
        assert rc == 0, err
        assert snapshot(spec) == broken
        assert lab.app_healthy(spec)
        rc, state, err = invoke("inspect", "--host", name, "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        assert state["effective"]["worker_class"] == "gevent"
        assert state["running_worker"] == "gevent"
    finally:
        lab.reset([spec])


def test_failed_verification_rolls_back_byte_identical(fleet, quick_playbook, runs_dir, tmp_path, fault_matrix):
    spec = fleet.host("lab1")
    # a p95 of 1 ms cannot be met through the delay proxy
    impossible = playbook_variant(tmp_path, "impossible", QUICK_REQUESTS, max_request_ms_p95=1)
    broken = snapshot(spec)
    try:
        rc, report, err = invoke("remediate", "--host", "lab1", "--yes", "--json", "-",
                                 "--playbook", str(impossible), runs_dir=runs_dir)
        assert rc != 0
        run = report["hosts"]["lab1"]
        assert run["status"] == "rolled_back"
        assert run["stage"] == "verify" and "request p95" in run["error"]
        assert "lab1" in err.strip().splitlines()[-1] and "rolled_back" in err
        assert snapshot(spec) == broken
        assert lab.app_healthy(spec)
        fault_matrix.add("verification thresholds missed (automatic rollback)", survived=True, lost=0)
    finally:
        lab.reset([spec])


def test_app_that_cannot_start_after_patch_rolls_back(fleet, quick_playbook, runs_dir, fault_matrix):
    spec = fleet.host("lab2")
    plant_start_failure(spec)
    planted = snapshot(spec)
    try:
        rc, report, err = invoke("remediate", "--host", "lab2", "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc != 0
        run = report["hosts"]["lab2"]
        assert run["status"] == "rolled_back", run
        assert run["stage"] in ("restart", "verify")
        # the HUP's new workers cannot boot (gunicorn's master halts): no proof, the manager's restart
        assert run["restart_kind"]["kind"] == "reload-hup" and run["restart_kind"]["fallback"], run["restart_kind"]
        assert snapshot(spec) == planted
        assert lab.app_healthy(spec)
        fault_matrix.add("app cannot start after the patch (automatic rollback)", survived=True, lost=0)
    finally:
        lab.reset([spec])


def test_plan_changes_nothing(fleet, runs_dir):
    spec = fleet.host("lab3")
    before = snapshot(spec)
    rc, plan, err = invoke("plan", "--host", "lab3", "--json", "-", runs_dir=runs_dir)
    assert rc == 0, err
    assert "-worker_class = 'gevent'" in plan["diff"] and "+worker_class = 'gthread'" in plan["diff"]
    assert "/srv/app/gunicorn.conf.py" in plan["files"]
    assert (plan["restart"]["kind"], plan["restart"]["reason"]) == ("reload-hup", "reloaded-files")
    assert plan["restart"]["stop"]["stop_signal"] == "TERM"  # the fallback's graceful stop, from docker inspect
    assert "@" not in plan["diff"].split("postgres://")[-1].split("/")[0] or "********" in plan["diff"]
    assert snapshot(spec) == before
    assert not runs_dir.exists()


def test_unknown_host_is_one_clear_line(fleet, runs_dir, fault_matrix):
    rc, _, err = invoke("remediate", "--host", "nosuchhost", "--yes", runs_dir=runs_dir, check_json=False)
    assert rc == 2
    assert err.strip().count("\n") == 0 and "unknown host 'nosuchhost'" in err
    assert "Traceback" not in err
    fault_matrix.add_input("unknown host name", rejected=True)


def test_no_verify_path_is_one_line_and_refused(fleet, quick_playbook, runs_dir, tmp_path, fault_matrix):
    """The default playbook names no page: a host without remediation_verify_path is refused before
    any write, and plan says why in one line."""
    import yaml

    spec = fleet.host("lab3")
    path = inventory_with(tmp_path, "lab3")
    data = yaml.safe_load(path.read_text())
    del data["all"]["vars"]["remediation_verify_path"]
    path.write_text(yaml.safe_dump(data))
    before = snapshot(spec)
    proc = invoke_text("plan", "--host", "lab3", "-i", str(path), runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    hint = [line for line in proc.stdout.splitlines() if "remediation_verify_path" in line]
    assert len(hint) == 1 and "verify.path" in hint[0], proc.stdout
    rc, report, err = invoke("remediate", "--host", "lab3", "-i", str(path), "--yes", "--json", "-",
                             "--playbook", str(quick_playbook), runs_dir=runs_dir)
    assert rc != 0
    run = report["hosts"]["lab3"]
    assert run["status"] == "refused" and "remediation_verify_path" in run["error"], run
    assert run["changes"] == [] and snapshot(spec) == before
    fault_matrix.add_input("no page to verify on (playbook placeholder, no host var)", rejected=True)


def test_too_few_requests_to_fail_the_count_is_refused(fleet, runs_dir, tmp_path, fault_matrix):
    """10 timed requests against a new-connection limit of 2 x 8: a connect per request would pass.
    plan says so in one line, remediate refuses before any write."""
    spec = fleet.host("lab3")
    few = playbook_variant(tmp_path, "few", 10)
    before = snapshot(spec)
    proc = invoke_text("plan", "--host", "lab3", "--playbook", str(few), runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stdout.splitlines() if "verify.requests 10" in line]
    assert len(said) == 1 and "above 16" in said[0], proc.stdout
    rc, report, err = invoke("remediate", "--host", "lab3", "--yes", "--json", "-", "--playbook", str(few),
                             runs_dir=runs_dir)
    run = report["hosts"]["lab3"]
    assert rc != 0 and run["status"] == "refused" and "could not prove reuse" in run["error"], run
    assert run["changes"] == [] and snapshot(spec) == before
    fault_matrix.add_input("timed requests too few for the new-connection count to fail", rejected=True)


def test_page_without_database_cannot_prove_reuse(fleet, quick_playbook, runs_dir, tmp_path, fault_matrix):
    """/healthz queries nothing: its gevent baseline opens no connection, so no after-count on it
    could prove reuse. The run is refused naming the setting; the files patched during the baseline
    go back without a restart (the old process never read them)."""
    spec = fleet.host("lab1")
    broken = snapshot(spec)
    path = inventory_with(tmp_path, "lab1", remediation_verify_path="/healthz")
    try:
        rc, report, err = invoke("remediate", "--host", "lab1", "-i", str(path), "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc != 0
        run = report["hosts"]["lab1"]
        assert run["status"] == "refused", run
        assert "cannot prove reuse" in run["error"] and "remediation_verify_path" in run["error"], run
        assert run["before"]["new_db_connections"] == 0
        assert snapshot(spec) == broken
        _, journal = events(runs_dir)
        stages = [e["stage"] for e in journal if e["event"] == "stage"]
        assert "restart" not in stages and any(e["event"] == "unproving-baseline" for e in journal)
        rc, state, err = invoke("inspect", "--host", "lab1", "--json", "-", runs_dir=runs_dir)
        assert rc == 0 and state["running_worker"] == "gevent", err
        fault_matrix.add("verify page that touches no database (refused, files restored)", survived=True, lost=0)
    finally:
        lab.reset([spec])
