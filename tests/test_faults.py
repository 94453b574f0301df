"""Faults and hostile input on the lab: every fault ends with files byte-identical (to
before, or to the intended result) and apps serving; bad input changes nothing.
Each test records a row of the fault matrix the README shows (see conftest)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from labtools import events, inventory_with, invoke, snapshot, start_invoke, wait_for
from lab import config
from lab import hosts
from lab import lab
from lab import network

pytestmark = pytest.mark.lab


def files_lost(before: dict, after: dict) -> int:
    return sum(1 for path in before if path not in after)


def test_sudo_denied_changes_nothing(fleet, quick_playbook, runs_dir, tmp_path, fault_matrix):
    spec = fleet.host("lab1")
    before = snapshot(spec)
    inv = inventory_with(tmp_path, "lab1", ansible_user=config.NO_SUDO_USER)
    rc, report, err = invoke("remediate", "--host", "lab1", "--yes", "--json", "-", "--inventory", str(inv),
                             "--playbook", str(quick_playbook), runs_dir=runs_dir)
    assert rc == 1
    assert "sudo denied" in report["hosts"]["lab1"]["error"]
    assert snapshot(spec) == before and lab.app_healthy(spec)
    fault_matrix.add("sudo denied", survived=True, lost=files_lost(before, snapshot(spec)))


def test_file_changed_between_plan_and_apply_is_refused(fleet, quick_playbook, runs_dir, fault_matrix):
    spec = fleet.host("lab3")
    settings = spec.dir / "srv" / "app" / "schoolsite" / "settings.py"
    # The lab's gunicorn rereads no file before a restart, so the run patches as soon as its baseline
    # has started (its DB counters' connect through the proxy is the whole window): the run is held
    # (SIGSTOP) once its baseline stage begins and the colleague's edit lands while it is stopped,
    # before any write; the incident's delay makes that window about a second wide again.
    delay = lab.current_delay()
    lab.set_delay(config.DEFAULT_DELAY_MS)
    proc = start_invoke(runs_dir, "remediate", "--yes", "--host", "lab3", "--json", "-", "--playbook", str(quick_playbook))
    try:
        wait_for(lambda: any(e["event"] == "stage" and e["stage"] == "baseline" for e in events(runs_dir)[1]),
                 120, "the baseline stage", every=0.01)
        os.killpg(proc.pid, signal.SIGSTOP)
        try:
            stages = [e["stage"] for e in events(runs_dir)[1] if e["event"] == "stage"]
            assert "apply" not in stages, f"the run was not held before its writes: {stages}"
            settings.write_text(settings.read_text() + "# edited by a colleague during the run\n")
            edited = snapshot(spec)
        finally:
            os.killpg(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1
        assert "changed on the host since it was planned" in stderr
        assert snapshot(spec) == edited  # nothing written: the colleague's edit is kept, nothing else changed
        assert lab.app_healthy(spec)
        fault_matrix.add("file changed between plan and apply", survived=True, lost=0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        lab.set_delay(delay)
        lab.reset([spec])


def test_link_cut_after_write_before_restart_then_rollback(fleet, quick_playbook, runs_dir, fault_matrix):
    spec = fleet.host("lab4")
    before = snapshot(spec)
    proc = start_invoke(runs_dir, "remediate", "--yes", "--host", "lab4", "--playbook", str(quick_playbook))
    try:
        wait_for(lambda: sum(e["event"] == "change-done" for e in events(runs_dir)[1]) >= 2, 180, "both writes")
        network.cut(spec)
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)  # the controller hangs on the dead link; the operator gives up
        proc.wait(10)
        network.restore(spec)
        assert snapshot(spec) != before  # the patch is on disk, not applied
        run_id, _ = events(runs_dir)
        rc, rolled, err = invoke("rollback", "--yes", "--run", run_id, "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        assert snapshot(spec) == before
        lab.wait_healthy(spec)
        fault_matrix.add("link cut after write, before restart", survived=True, lost=files_lost(before, snapshot(spec)))
    finally:
        network.restore(spec)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        lab.reset([spec])


def test_backup_deleted_then_rollback_twice_then_remediate_again(fleet, quick_playbook, runs_dir, fault_matrix):
    spec = fleet.host("lab6")
    before = snapshot(spec)
    password = lab.db_password(spec)
    outputs = []
    try:
        rc, report, err = invoke("remediate", "--host", "lab6", "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        outputs += [str(report), err]
        assert rc == 0, err
        run_id = report["run_id"]
        backup = spec.dir / "backups" / "remediation" / run_id  # the host's /var/backups
        assert backup.is_dir()
        subprocess.run(["rm", "-rf", str(backup)], check=True)  # the host lost its backups
        rc, rolled, err = invoke("rollback", "--yes", "--host", "lab6", "--run", run_id, "--json", "-", runs_dir=runs_dir)
        outputs += [str(rolled), err]
        assert rc == 0, err
        assert snapshot(spec) == before and lab.app_healthy(spec)
        journal_events = (runs_dir / run_id / "events.jsonl").read_text()
        assert '"source": "controller-copy"' in journal_events
        fault_matrix.add("host backup deleted before rollback", survived=True, lost=files_lost(before, snapshot(spec)))
        pid_before = hosts.exec_in(spec, ["pgrep", "-o", "-f", "gunicorn -c"]).stdout.strip()
        rc, again, err = invoke("rollback", "--yes", "--host", "lab6", "--run", run_id, "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        assert hosts.exec_in(spec, ["pgrep", "-o", "-f", "gunicorn -c"]).stdout.strip() == pid_before  # no restart
        assert snapshot(spec) == before
        fault_matrix.add("rollback of a rollback", survived=True, lost=0)
        rc, report2, err = invoke("remediate", "--host", "lab6", "--yes", "--json", "-",
                                  "--playbook", str(quick_playbook), runs_dir=runs_dir)
        outputs += [str(report2), err]
        assert rc == 0, err
        assert report2["hosts"]["lab6"]["status"] == "remediated"
        fault_matrix.add("remediate after rollback", survived=True, lost=0)
        stored = [p.read_text() for p in runs_dir.rglob("*") if p.name in ("events.jsonl", "report.json")]
        assert password not in "".join(outputs + stored)
    finally:
        lab.reset([spec])


def test_unknown_host_key_refused_unless_accepted(fleet, runs_dir, tmp_path, fault_matrix):
    spec = fleet.host("lab5")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inv = inventory_with(tmp_path, "lab5", remediation_known_hosts_file=str(empty))
    rc, _, err = invoke("inspect", "--host", "lab5", "--inventory", str(inv), runs_dir=runs_dir, check_json=False)
    assert rc == 3 and "host key" in err and "unknown" in err and "Traceback" not in err
    rc, data, err = invoke("inspect", "--host", "lab5", "--inventory", str(inv), "--accept-new-host-key",
                           "--json", "-", runs_dir=runs_dir)
    assert rc == 0, err
    from remediation.transport import knownhosts  # hashed when ssh_config says HashKnownHosts yes (Debian's default)

    assert knownhosts.known_keys([str(empty)], spec.address) and len(empty.read_text().splitlines()) == 1
    fault_matrix.add_input("unknown SSH host key", rejected=True)


def test_shell_metacharacters_in_inventory_reach_no_shell(fleet, runs_dir, tmp_path, fault_matrix):
    spec = fleet.host("lab2")
    hostile = "http://127.0.0.1:8000/x$(touch /tmp/pwned)`touch /tmp/pwned2`;touch /tmp/pwned3"
    inv = inventory_with(tmp_path, "lab2", remediation_app_url=hostile)
    invoke("verify", "--host", "lab2", "--inventory", str(inv), "--requests", "2", runs_dir=runs_dir,
           check_json=False)
    for name in ("pwned", "pwned2", "pwned3"):
        assert hosts.exec_in(spec, ["test", "-e", f"/tmp/{name}"], check=False).returncode == 1
    fault_matrix.add_input("shell metacharacters in a host var", rejected=True)
    inv = inventory_with(tmp_path, "lab2", ansible_host="10.77.0.11; touch /tmp/pwned4")
    rc, _, err = invoke("inspect", "--host", "lab2", "--inventory", str(inv), runs_dir=runs_dir, check_json=False)
    # OpenSSH's own resolver refuses the name: bad input (exit 2), one line, nothing run
    assert rc == 2 and "hostname contains invalid characters" in err and err.strip().count("\n") == 0
    assert not Path("/tmp/pwned4").exists()
    fault_matrix.add_input("shell metacharacters in ansible_host", rejected=True)


@pytest.mark.parametrize("text,expect", [
    ("all:\n  hosts:\n    lab1: {ansible_host: 10.77.0.10\n", "invalid YAML"),
    ("all:\n  hosts: [lab1]\n", "must be a mapping"),
    ("all:\n  children:\n    web:\n      hostz: {}\n", "unknown key"),
    ("all:\n  children:\n    empty: {}\n", "defines no hosts"),
    ("all:\n  hosts:\n    lab1: {remediation_app_dir: ../../etc/passwd}\n", "absolute path without '..'"),
])
def test_bad_inventory_is_one_clear_line(fleet, runs_dir, tmp_path, text, expect, fault_matrix):
    inv = tmp_path / "bad.yml"
    inv.write_text(text)
    rc, _, err = invoke("remediate", "--host", "lab1", "--yes", "--inventory", str(inv), runs_dir=runs_dir,
                        check_json=False)
    assert rc == 2 and expect in err and err.strip().count("\n") == 0 and str(inv) in err
    fault_matrix.add_input(f"inventory: {expect}", rejected=True)


@pytest.mark.parametrize("when", ["change-intent", "check-config", "verify"])
def test_controller_killed_then_rollback_run(fleet, quick_playbook, runs_dir, when, fault_matrix):
    """kill -9 right after the first backup, after the writes, after the restart."""
    spec = fleet.host("lab5")
    before = snapshot(spec)
    proc = start_invoke(runs_dir, "remediate", "--yes", "--host", "lab5", "--playbook", str(quick_playbook))
    try:
        wait_for(lambda: any(e["event"] == when or (e["event"] == "stage" and e["stage"] == when)
                             for e in events(runs_dir)[1]), 240, when)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        run_id, _ = events(runs_dir)
        rc, rolled, err = invoke("rollback", "--yes", "--run", run_id, "--json", "-", runs_dir=runs_dir)
        assert rc == 0, err
        assert snapshot(spec) == before
        lab.wait_healthy(spec)
        assert not (spec.dir / "run" / "lock" / "remediation.lock").exists()
        label = {"change-intent": "after the first backup", "check-config": "after the writes",
                 "verify": "after the restart"}[when]
        fault_matrix.add(f"controller killed (kill -9) {label}, then rollback --run", survived=True,
                         lost=files_lost(before, snapshot(spec)))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        lab.reset([spec])


@pytest.mark.parametrize("how", ["full", "read-only"])
def test_backup_filesystem_full_or_read_only_changes_nothing(fleet, quick_playbook, runs_dir, how, fault_matrix):
    spec = fleet.host("lab1")
    before = snapshot(spec)
    inside = hosts.nsenter(spec)
    subprocess.run([*inside, "mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", "/var/backups"], check=True)
    try:
        if how == "full":
            subprocess.run([*inside, "sh", "-c", "dd if=/dev/zero of=/var/backups/fill bs=4k 2>/dev/null; true"],
                           check=True)
        else:
            subprocess.run([*inside, "mount", "-o", "remount,ro", "/var/backups"], check=True)
        rc, report, err = invoke("remediate", "--host", "lab1", "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc == 1
        run = report["hosts"]["lab1"]
        assert run["stage"] == "apply" and run["status"] in ("failed", "rolled_back")
        expected = "No space left" if how == "full" else "Read-only file system"
        assert expected in run["error"]
        assert snapshot(spec) == before and lab.app_healthy(spec)
        fault_matrix.add(f"{how} filesystem where the backup goes", survived=True,
                         lost=files_lost(before, snapshot(spec)))
    finally:
        subprocess.run([*inside, "umount", "/var/backups"], check=False)


def test_inventory_naming_another_app_dir_refuses_the_host(fleet, quick_playbook, runs_dir, tmp_path, fault_matrix):
    """The inventory states the app lives elsewhere: wrong host or stale inventory, nothing written."""
    spec = fleet.host("lab1")
    before = snapshot(spec)
    inv = inventory_with(tmp_path, "lab1", remediation_app_dir="/opt/billing",
                         remediation_supervisor_program="billing")
    rc, report, err = invoke("remediate", "--host", "lab1", "--yes", "--inventory", str(inv), "--playbook",
                             str(quick_playbook), "--json", "-", runs_dir=runs_dir)
    run = report["hosts"]["lab1"]
    assert rc == 1 and run["status"] == "refused" and run["stage"] == "plan", run
    assert "not under remediation_app_dir /opt/billing" in run["error"]
    # every file the plan would patch is the live process's own (the config its command line names,
    # the settings its own import ran): never "outside", the process's directory refuses the host
    assert "outside remediation_app_dir" not in run["error"]
    assert "the inventory says 'billing'" in run["error"]
    assert "Traceback" not in err
    assert snapshot(spec) == before
    fault_matrix.add_input("inventory: app dir and program of another app", rejected=True)
