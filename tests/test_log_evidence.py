"""No verdict rests on a log line: supervisor hosts whose logs are as real programs leave them.

A program at supervisor's logging defaults (no stdout_logfile, no redirect_stderr: gunicorn's
stderr goes to an AUTO-named file only supervisord knows) and a program that keeps no log at all
(stdout_logfile=NONE, stderr_logfile=NONE) must both end remediated: the worker class is proven
from the restarted process, the log only adds evidence.
"""
from __future__ import annotations

import re
import time

import pytest

from labtools import invoke, snapshot
from lab import appfiles, lab

pytestmark = pytest.mark.lab

LOG_LINES = re.compile(r"^(redirect_stderr|stdout_logfile|stdout_logfile_maxbytes)=.*\n", re.M)


def _program(spec, extra: str = "") -> str:
    """The lab's program with its logging lines removed (supervisor's defaults), plus `extra`."""
    return LOG_LINES.sub("", appfiles.supervisor_program(spec)) + extra


def _remediate_and_roll_back(spec, quick_playbook, runs_dir) -> dict:
    broken = snapshot(spec)
    program_file = spec.dir / "etc-supervisor" / "conf.d" / "schoolsite.conf"
    program_before = program_file.read_bytes()
    rc, report, err = invoke("remediate", "--host", spec.name, "--yes", "--json", "-",
                             "--playbook", str(quick_playbook), runs_dir=runs_dir)
    run = report["hosts"][spec.name]
    print(f"\n{spec.name}: {run['status']} {run.get('error')}\nwarnings: {run['warnings']}\nafter: {run['after']}")
    assert rc == 0 and run["status"] == "remediated", (err, run.get("error"))
    assert run["after"]["worker_class"] == "gthread" and any(n > 1 for n in run["after"]["worker_threads"])
    assert run["after"]["new_db_connections"] <= 16 < run["before"]["new_db_connections"]
    rc, _rolled, err = invoke("rollback", "--yes", "--host", spec.name, "--run", report["run_id"], "--json", "-",
                              runs_dir=runs_dir)
    assert rc == 0, err
    assert snapshot(spec) == broken and program_file.read_bytes() == program_before
    assert lab.app_healthy(spec)
    return run


def test_supervisor_default_logging_is_read_where_supervisord_says(fleet, quick_playbook, runs_dir):
    spec = fleet.host("lab1")
    try:
        (spec.dir / "etc-supervisor" / "conf.d" / "schoolsite.conf").write_text(_program(spec))
        lab.restart_app(spec)
        auto = list((spec.dir / "log-supervisor").glob("schoolsite-stderr---supervisor-*.log"))
        assert auto, "supervisord did not make an AUTO stderr log"
        run = _remediate_and_roll_back(spec, quick_playbook, runs_dir)
        # the restarted master's own `Using worker: gthread` was found in the AUTO file: no log warning
        assert not [w for w in run["warnings"] if "Using worker" in w or "could not be read" in w], run["warnings"]
        assert run["after"]["acquire_ms_p50"] is not None  # the app's stderr lines were read there too
    finally:
        lab.reset([spec])


def test_a_host_whose_log_cannot_be_read_is_remediated(fleet, quick_playbook, runs_dir):
    spec = fleet.host("lab1")
    try:
        program = _program(spec, "stdout_logfile=NONE\nstderr_logfile=NONE\n")
        (spec.dir / "etc-supervisor" / "conf.d" / "schoolsite.conf").write_text(program)
        lab.restart_app(spec)
        run = _remediate_and_roll_back(spec, quick_playbook, runs_dir)
        assert any("judged from the process alone" in w for w in run["warnings"]), run["warnings"]
    finally:
        lab.reset([spec])


def test_files_at_the_target_under_an_older_process_are_restarted_without_a_log(fleet, quick_playbook, runs_dir):
    """An interrupted run left the files at the target and the old gevent process running, and no
    log says so: the process's start time against the files' mtimes decides a restart-only run."""
    spec = fleet.host("lab1")
    try:
        program = _program(spec, "stdout_logfile=NONE\nstderr_logfile=NONE\n")
        (spec.dir / "etc-supervisor" / "conf.d" / "schoolsite.conf").write_text(program)
        lab.restart_app(spec)
        broken = snapshot(spec)
        rc, report, err = invoke("remediate", "--host", spec.name, "--yes", "--json", "-",
                                 "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc == 0, err
        at_target = {c["path"]: (spec.dir / "srv" / c["path"].removeprefix("/srv/")).read_bytes()
                     for c in report["hosts"][spec.name]["changes"]}
        rc, _rolled, err = invoke("rollback", "--yes", "--host", spec.name, "--run", report["run_id"], "--json", "-",
                                  runs_dir=runs_dir)
        assert rc == 0 and snapshot(spec) == broken, err
        time.sleep(3)  # written well after the restarted gevent master started
        for path, content in at_target.items():  # what the interrupted run left, no restart
            (spec.dir / "srv" / path.removeprefix("/srv/")).write_bytes(content)
        rc, again, err = invoke("remediate", "--host", spec.name, "--yes", "--json", "-",
                                "--playbook", str(quick_playbook), runs_dir=runs_dir)
        run = again["hosts"][spec.name]
        print(f"\n{run['status']} {run.get('error')} {run['warnings']}")
        assert rc == 0 and run["status"] == "remediated" and run["changes"] == [], (err, run)
        assert run["after"]["worker_class"] == "gthread" and any(n > 1 for n in run["after"]["worker_threads"])
    finally:
        lab.reset([spec])
