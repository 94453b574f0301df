"""The gentlest restart chosen per change (plan/restart_kind.py), the proof that a HUP replaced
every worker (verify/reload_proof.py), what bounds a manager's graceful stop (managers/*), and the
rollback's choice in reverse (rollback.kind_from_journal)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from remediation.journal import Journal
from remediation.managers.base import StopBounds, seconds, signal_name
from remediation.managers.compose import Compose
from remediation.managers.supervisor import Supervisor
from remediation.managers.systemd import Systemd
from remediation.model import RemoteFile, RestartMethod
from remediation.plan.restart_kind import KindReason, ReloadFacts, RestartKind, choose, safe_switch
from remediation.rollback import kind_from_journal
from remediation.verify.reload_proof import generation_problems, since_reload

CONF = "/srv/app/gunicorn.conf.py"
SETTINGS = "/srv/app/schoolsite/settings.py"
PROGRAM = "/etc/supervisor/conf.d/schoolsite.conf"
ENVFILE = "/etc/default/schoolsite"
INCIDENT_CONF = "worker_class = 'gevent'\nworkers = 2\nthreads = 16\n"

# the incident on a supervisor host: the config file holds the worker class, the settings the DB keys
BASE = ReloadFacts(changed=(CONF, SETTINGS), config=CONF, config_how="-c gunicorn.conf.py", config_text=INCIDENT_CONF,
                   settings=(SETTINGS, "/srv/app/schoolsite/__init__.py"), manager_files=(),
                   preload_app=False, worker_from="gunicorn.workers.ggevent.GeventWorker", worker_to="gthread")


@pytest.mark.parametrize("facts, kind, reason", [
    (BASE, RestartKind.RELOAD_HUP, KindReason.RELOADED_FILES),
    (replace(BASE, changed=(CONF,)), RestartKind.RELOAD_HUP, KindReason.RELOADED_FILES),
    (replace(BASE, changed=(SETTINGS,), worker_to="gunicorn.workers.ggevent.GeventWorker"),
     RestartKind.RELOAD_HUP, KindReason.RELOADED_FILES),
    # the rollback's direction: gthread back to gevent, proven the same way
    (replace(BASE, worker_from="gunicorn.workers.gthread.ThreadWorker", worker_to="gevent"),
     RestartKind.RELOAD_HUP, KindReason.RELOADED_FILES),
    # the command line and the environment do not change on HUP
    (replace(BASE, changed=(PROGRAM,), manager_files=(PROGRAM,)), RestartKind.MANAGER_RESTART, KindReason.COMMAND_LINE),
    (replace(BASE, changed=(CONF, ENVFILE), environment_files=(ENVFILE,)), RestartKind.MANAGER_RESTART,
     KindReason.ENVIRONMENT),
    # a preloaded app keeps the master's settings; a config-only change still reloads
    (replace(BASE, preload_app=True), RestartKind.MANAGER_RESTART, KindReason.PRELOADED_APP),
    (replace(BASE, preload_app=True, changed=(CONF,)), RestartKind.RELOAD_HUP, KindReason.RELOADED_FILES),
    (replace(BASE, preload_app=None), RestartKind.MANAGER_RESTART, KindReason.PRELOAD_UNKNOWN),
    # -c python:MODULE is imported once and cached in sys.modules
    (replace(BASE, config_how="-c python:gunicorn_conf"), RestartKind.MANAGER_RESTART, KindReason.CONFIG_MODULE),
    # a master that ran gevent code (patched by its own config) stops handling HUP
    (replace(BASE, config_text="from gevent import monkey\nmonkey.patch_all()\n" + INCIDENT_CONF),
     RestartKind.MANAGER_RESTART, KindReason.MASTER_GEVENT_CODE),
    (replace(BASE, config_text="# monkey.patch_all() was removed\n" + INCIDENT_CONF), RestartKind.RELOAD_HUP,
     KindReason.RELOADED_FILES),
    (replace(BASE, worker_from="eventlet"), RestartKind.MANAGER_RESTART, KindReason.UNPROVEN_SWITCH),
    (replace(BASE, changed=(CONF, "/srv/app/.env")), RestartKind.MANAGER_RESTART, KindReason.OTHER_FILE),
    (replace(BASE, baked_paths=(CONF,)), RestartKind.MANAGER_RESTART, KindReason.BAKED_IMAGE),
    (replace(BASE, manager_only=True), RestartKind.MANAGER_RESTART, KindReason.OPERATOR),
    (replace(BASE, master_running=False), RestartKind.MANAGER_RESTART, KindReason.NOT_RUNNING),
    (replace(BASE, changed=(), changes_known=False), RestartKind.MANAGER_RESTART, KindReason.UNKNOWN_CHANGES),
], ids=lambda v: v if isinstance(v, str) else None)
def test_the_kind_chosen_for_each_kind_of_change(facts, kind, reason):
    choice = choose(facts)
    assert (choice.kind, choice.reason) == (kind, reason)
    assert choice.as_json()["kind"] == str(kind) and choice.as_json()["reason"] == str(reason)


def test_a_switch_by_hup_is_only_between_classes_proven_on_a_real_gunicorn():
    assert safe_switch("gunicorn.workers.ggevent.GeventWorker", "gthread")
    assert safe_switch("gthread", "gevent") and safe_switch("gevent", "sync")
    assert not safe_switch("eventlet", "gthread")
    assert not safe_switch("myapp.workers.Custom", "gthread")
    assert safe_switch("gthread", "gthread")


def reply(**kw):
    base = {"signalled": True, "sent": 1000.0, "master_started": 900.0, "old": [11, 12],
            "workers": [{"pid": 21, "started": 1000.3, "threads": 9}, {"pid": 22, "started": 1000.4, "threads": 9}]}
    return {**base, **kw}


def test_a_new_generation_of_workers_proves_the_reload():
    assert generation_problems(reply(), [11, 12], 2, 900.0) == []


@pytest.mark.parametrize("changes, words", [
    ({"workers": [{"pid": 11, "started": 800.0, "threads": 1}, {"pid": 21, "started": 1000.3, "threads": 9}]},
     "old worker(s) 11 still run"),
    ({"workers": [{"pid": 21, "started": 950.0, "threads": 9}, {"pid": 22, "started": 1000.4, "threads": 9}]},
     "did not start after the HUP"),
    ({"workers": [{"pid": 21, "started": 1000.3, "threads": 9}]}, "1 worker(s) after the HUP"),
    ({"master_started": 1001.0}, "the master itself changed"),
    ({"signalled": False, "error": "pid 10 is not the master probed"}, "not signalled"),
])
def test_no_proof_without_every_worker_new(changes, words):
    problems = generation_problems(reply(**changes), [11, 12], 2, 900.0)
    assert any(words in p for p in problems), problems


def test_only_the_log_after_the_masters_hup_counts():
    log = ("[2026-12-06 13:57:10 +0000] [5458] [INFO] Using worker: gevent\n"
           "[2026-12-06 13:57:19 +0000] [5458] [INFO] Handling signal: hup\n"
           "[2026-12-06 13:57:19 +0000] [5458] [INFO] Hang up: Master\n"
           "[2026-12-06 13:57:19 +0000] [5543] [INFO] Booting worker with pid: 5543\n")
    after = since_reload(log, (5458,))
    assert after is not None and "Using worker: gevent" not in after and "Booting worker" in after
    assert since_reload(log, (4242,)) is None  # another master's HUP is no evidence
    assert since_reload(None, (5458,)) is None


def test_what_bounds_a_graceful_stop_per_manager():
    conf = ("[program:schoolsite]\ncommand=/srv/venv/bin/gunicorn -c gunicorn.conf.py schoolsite.wsgi\n"
            "stopsignal=QUIT\nstopwaitsecs=20\n")
    files = {PROGRAM: RemoteFile(PROGRAM, conf.encode(), None)}
    bounds = Supervisor().stop_bounds(RestartMethod("supervisor", program="schoolsite"), files, 30.0)
    assert (bounds.stop_signal, bounds.stop_timeout_s, bounds.graceful, bounds.bound_s) == ("QUIT", 20.0, False, 0.0)
    bounds = Supervisor().stop_bounds(RestartMethod("supervisor", program="other"), files, 30.0)
    assert (bounds.stop_signal, bounds.stop_timeout_s, bounds.bound_s) == ("TERM", 10.0, 10.0)  # supervisor's defaults
    shown = {"stop": {"TimeoutStopUSec": "1min 30s", "KillSignal": "15", "KillMode": "mixed"}}
    bounds = Systemd().stop_bounds(RestartMethod("systemd", program="app.service", systemd=shown), {}, 30.0)
    assert (bounds.stop_signal, bounds.stop_timeout_s, bounds.bound_s) == ("TERM", 90.0, 30.0)
    bounds = Compose().stop_bounds(RestartMethod("docker-compose", stop={"signal": "SIGINT", "timeout": 5}), {}, 30.0)
    assert (bounds.stop_signal, bounds.graceful, bounds.bound_s) == ("INT", False, 0.0)
    bounds = Compose().stop_bounds(RestartMethod("docker-compose", stop={"signal": None, "timeout": None}), {}, 30.0)
    assert (bounds.stop_signal, bounds.stop_timeout_s, bounds.bound_s) == ("TERM", 10.0, 10.0)
    assert StopBounds(None, "TERM", None, "x").bound_s is None


def test_durations_and_signals_as_managers_write_them():
    assert seconds("1min 30s") == 90 and seconds("1m30s") == 90 and seconds("10") == 10 and seconds(5) == 5
    assert seconds("infinity") is None and seconds("500ms") == 0.5
    assert signal_name("SIGTERM") == signal_name("15") == signal_name("term") == "TERM"


def test_the_rollback_makes_the_same_choice_unless_the_hup_fell_back(tmp_path):
    journal = Journal.create("remediate", "gevent-to-gthread", ["web1"], tmp_path)
    journal.record("web1", "facts", restart={"kind": "supervisor"}, url="http://x/", effective={"workers": 3})
    assert kind_from_journal(journal, "web1") == (RestartKind.MANAGER_RESTART, 3)  # chose nothing: the manager's
    journal.record("web1", "restart-kind", kind="reload-hup", reason="reloaded-files", detail="", paths=[])
    assert kind_from_journal(journal, "web1") == (RestartKind.RELOAD_HUP, 3)
    journal.record("web1", "reload-fallback", master_pid=10, problems=["old worker(s) 11 still run"])
    assert kind_from_journal(journal, "web1") == (RestartKind.MANAGER_RESTART, 3)


def test_plan_says_the_kind_its_reason_and_what_bounds_the_stop():
    from remediation.cli.host import restart_line

    stop = StopBounds(30.0, "TERM", 10.0, "supervisor stopsignal / stopwaitsecs").as_json()
    hup = {"kind": "reload-hup", "reason": "reloaded-files", "detail": CONF, "stop": stop}
    assert restart_line(hup).startswith(f"restart: reload-hup (reloaded-files: {CONF}); if the new workers give no "
                                        "proof: manager-restart, graceful stop within 10 s")
    quit_stop = StopBounds(30.0, "QUIT", 10.0, "supervisor stopsignal / stopwaitsecs").as_json()
    line = restart_line({"kind": "manager-restart", "reason": "command-line", "detail": PROGRAM, "stop": quit_stop})
    assert line == (f"restart: manager-restart (command-line: {PROGRAM}); stop signal QUIT: gunicorn stops at once, "
                    "in-flight requests are cut")


def test_a_host_remediated_by_hup_is_unchanged_on_the_next_run_and_rolls_back_by_hup(tmp_path):
    """After a HUP the master is older than the files it now runs: the workers' start times (every
    one newer than the files) say the reload read them, so a second run changes nothing; an
    emergency rollback from the journal then HUPs back to gevent."""
    from fakeremote import FakeRemote
    from test_unit_flow_fake import HOST_VARS, app_files, load, run_scenario

    from remediation.config.inventory import Host, Inventory
    from remediation.config.playbook import load_playbook
    from remediation.flow import HostFlow
    from remediation.model import Status
    from remediation.rollback import rollback_host

    run, fake, journal = run_scenario(load("remediated_supervisor"), tmp_path / "runs")
    assert run.status == Status.REMEDIATED and (fake.restarts, fake.reloads) == (0, 1)
    master = fake.process.pid
    host = Host("web1", dict(HOST_VARS))
    again = HostFlow(host, Inventory(hosts={"web1": host}), load_playbook(),
                     Journal.create("remediate", "gevent-to-gthread", ["web1"], tmp_path / "again"),
                     remote_factory=FakeRemote.factory(fake)).execute()
    assert again.status == Status.UNCHANGED, again.error
    assert (fake.restarts, fake.reloads) == (0, 1)
    with FakeRemote(fake, host) as remote:
        rollback_host(remote, Journal.open(journal.run_id, tmp_path / "runs"), "web1", 60)
    assert app_files(fake) == fake.original
    assert (fake.restarts, fake.reloads, fake.process.pid) == (0, 2, master)  # the same master, reloaded back
    assert fake.process.worker_name == "gevent"
