"""Drain and ready hooks in the host flow, driven through the fake host (tests/fakeremote.py): the
drain before the first change, the ready once the host serves again, a failing drain stopping the
host with nothing changed, a host whose rollback failed left drained. The hooks are real `sh`
commands on the controller writing what they saw to a file."""
from __future__ import annotations

from pathlib import Path

from test_unit_flow_fake import HOST_VARS, app_files, load, run_scenario


def with_hooks(name: str, log: Path, drain: str = "", ready: str = "") -> dict:
    spec = load(name)
    spec["host_vars"] = {**spec.get("host_vars", HOST_VARS),
                         "remediation_drain_command": drain or f'echo "drain $REMEDIATION_HOST" >> {log}',
                         "remediation_ready_command": ready or f'echo "ready $REMEDIATION_HOST" >> {log}'}
    return spec


def stages(journal) -> list[str]:
    return [e["stage"] for e in journal.events("web1") if e["event"] == "stage"]


def test_a_remediated_host_is_drained_before_its_first_change_and_readied_after(tmp_path):
    log = tmp_path / "hooks.log"
    run, fake, journal = run_scenario(with_hooks("remediated_supervisor", log), tmp_path / "runs")
    assert str(run.status) == "remediated", run.error
    assert log.read_text() == "drain web1\nready web1\n"
    seen = stages(journal)
    assert seen.index("preflight") < seen.index("drain") < seen.index("baseline") < seen.index("apply")
    events = [e["event"] for e in journal.events("web1")]
    assert events.index("drained") < events.index("remediated") < events.index("ready")
    assert (fake.restarts, fake.reloads) == (0, 1)  # a HUP applied it (plan/restart_kind.py)


def test_a_failing_drain_stops_the_host_with_nothing_changed(tmp_path):
    log = tmp_path / "hooks.log"
    spec = with_hooks("remediated_supervisor", log, drain=f"echo tried >> {log}; echo 'backend down' >&2; exit 2")
    run, fake, journal = run_scenario(spec, tmp_path / "runs")
    assert str(run.status) == "failed" and str(run.stage) == "drain"
    assert "the drain hook exited 2 on the controller: backend down" in run.error
    assert "nothing was changed" in run.error
    assert log.read_text() == "tried\n"  # the ready command was not run
    assert app_files(fake) == fake.original and fake.restarts == 0
    assert "baseline" not in stages(journal)


def test_a_rolled_back_host_is_readied_once_it_serves_again(tmp_path):
    log = tmp_path / "hooks.log"
    run, fake, _journal = run_scenario(with_hooks("rolled_back_verify_no_reuse", log), tmp_path / "runs")
    assert str(run.status) == "rolled_back", run.error
    assert log.read_text() == "drain web1\nready web1\n"
    assert app_files(fake) == fake.original


def test_a_host_whose_rollback_failed_stays_drained(tmp_path):
    log = tmp_path / "hooks.log"
    run, _fake, journal = run_scenario(with_hooks("failed_rollback_not_serving", log), tmp_path / "runs")
    assert str(run.status) == "failed" and "ROLLBACK FAILED" in run.error
    assert run.error.endswith("the host stays drained (the ready command was not run)")
    assert log.read_text() == "drain web1\n"
    assert "ready" not in [e["event"] for e in journal.events("web1")]


def test_a_failing_ready_fails_the_host_and_says_the_change_itself_worked(tmp_path):
    log = tmp_path / "hooks.log"
    spec = with_hooks("remediated_supervisor", log, ready="echo 'no such server' >&2; exit 1")
    run, fake, _journal = run_scenario(spec, tmp_path / "runs")
    assert str(run.status) == "failed" and str(run.stage) == "ready"
    assert "the ready hook exited 1" in run.error and "still drained" in run.error
    assert "the run itself: remediated" in run.error
    assert fake.process.worker_name == "gthread"  # the change stands; only the load balancer step failed


def test_a_host_refused_before_any_change_is_never_drained(tmp_path):
    log = tmp_path / "hooks.log"
    for name in ("refused_preflight_db_budget", "unchanged_at_target", "refused_lock_held"):
        run, _fake, _journal = run_scenario(with_hooks(name, log), tmp_path / name)
        assert str(run.status) in ("refused", "unchanged"), (name, run.status, run.error)
    assert not log.exists()
