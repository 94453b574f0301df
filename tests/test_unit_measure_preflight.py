"""measure.percentile / app_url and preflight.check() on an Inspection built from a recorded
probe plus a hand-written introspection (what the agent's introspect op returns)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from remediation.facts.parse import parse_probe
from remediation.facts.gather import Gathered
from remediation.model import AppView, RemoteFile
from remediation.plan.inspection import Inspection
from remediation.verify.measure import app_url, percentile
from remediation.plan.preflight import check
from remediation.model import Target

FIXTURES = Path(__file__).parent / "fixtures" / "probe"
PROBE = json.loads((FIXTURES / "supervisor.json").read_text())

# --- percentile ---------------------------------------------------------------------------------


def test_percentile_of_nothing_is_none():
    assert percentile([], 95) is None


def test_percentile_picks_a_sample_from_unsorted_input():
    values = [float(v) for v in (7, 1, 10, 3, 5, 2, 9, 4, 8, 6)]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 95) == 10.0
    assert percentile(values, 50) in values
    assert values[0] == 7.0  # the input is not sorted in place


def test_percentile_single_value_and_outlier():
    assert percentile([42.0], 95) == 42.0
    samples = [10.0] * 19 + [1000.0]
    assert percentile(samples, 50) == 10.0
    assert percentile(samples, 100) == 1000.0


# --- app_url precedence -------------------------------------------------------------------------

def gathered(introspection: dict | None = None, files: dict | None = None) -> Gathered:
    facts = parse_probe(copy.deepcopy(PROBE))
    return Gathered(facts, facts.master(), files=files or {}, introspection=AppView.from_json(introspection))


def with_binds(*binds: str) -> Gathered:
    return gathered({"gunicorn": {"bind": list(binds)}})


def test_host_var_url_beats_everything():
    g = with_binds("0.0.0.0:9000")
    url = app_url(g, {"remediation_app_url": "http://10.0.0.5:81/", "remediation_app_port": 82}, "/api/", 83)
    assert url == "http://10.0.0.5:81/api/"


def test_explicit_port_beats_host_var_port_and_bind():
    assert app_url(with_binds("0.0.0.0:9000"), {"remediation_app_port": 82}, "/api/", 83) == "http://127.0.0.1:83/api/"


def test_host_var_port_beats_bind():
    assert app_url(with_binds("0.0.0.0:9000"), {"remediation_app_port": "82"}, "/x", None) == "http://127.0.0.1:82/x"


def test_gunicorn_bind_port_is_used_and_unix_sockets_are_skipped():
    g = with_binds("unix:/run/gunicorn.sock", "fd://3", "[::]:9001", "0.0.0.0:9002")
    assert app_url(g, {}, "/x", None) == "http://127.0.0.1:9001/x"


def test_bind_without_a_port_and_nothing_else_falls_back_to_8000():
    assert app_url(with_binds("unix:/run/g.sock", "[::1]", "localhost"), {}, "/x", None) == "http://127.0.0.1:8000/x"
    assert app_url(gathered(), {}, "/x", None) == "http://127.0.0.1:8000/x"
    assert app_url(gathered({"gunicorn": None}), {}, "/x", None) == "http://127.0.0.1:8000/x"


# --- preflight ----------------------------------------------------------------------------------

def introspection(**gunicorn) -> dict:
    base = {"worker_class": "gevent", "workers": 2, "threads": 16, "worker_connections": 1000,
            "preload_app": False, "bind": ["0.0.0.0:8000"]}
    base.update(gunicorn)
    return {
        "versions": {"django": "4.2.11", "gunicorn": "22.0.0", "gevent": "24.2.1"},
        "gunicorn": base,
        "databases": {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 600,
                                  "CONN_HEALTH_CHECKS": False, "pool": None}},
        "db_server": {"default": {"max_connections": 100}},
        "errors": [],
    }


def inspect(intro: dict, files: dict | None = None, target: Target | None = None) -> Inspection:
    return Inspection.build("lab1", gathered(intro, files), target or Target())


def preflight(intro: dict, hosts: int = 1, **kwargs):
    return check(inspect(intro, **kwargs), hosts)


def test_incident_host_passes_with_only_the_concurrency_warning():
    result = preflight(introspection())
    assert result.refusals == []
    concurrency = [w for w in result.warnings if w.startswith("concurrency drops")]
    assert concurrency == ["concurrency drops from 2 x 1000 in-flight (gevent) to 2 x 8 (gthread); long-polling, "
                           "websockets or streaming need an async worker"]
    assert not any("Django" in w or "preload" in w or "gevent-specific" in w for w in result.warnings)


@pytest.mark.parametrize("worker", ["gunicorn.workers.ggevent.GeventWorker", "egg:gunicorn#gevent", "eventlet",
                                    "gevent_pywsgi", "sync", "gthread", "tornado"])
def test_builtin_worker_classes_under_any_name_are_not_refused(worker):
    result = preflight(introspection(worker_class=worker))
    assert not any("worker class" in r for r in result.refusals)


def test_custom_worker_class_is_refused():
    result = preflight(introspection(worker_class="myapp.workers.TimedGeventWorker2"))
    assert len(result.refusals) == 1
    assert "a custom worker class (myapp.workers.TimedGeventWorker2)" in result.refusals[0]
    assert "ASGI" not in result.refusals[0]


@pytest.mark.parametrize("worker", ["uvicorn.workers.UvicornWorker", "uvicorn_worker.UvicornH11Worker",
                                    "myproject.asgi_worker.Worker"])
def test_asgi_worker_class_is_refused_as_asgi(worker):
    result = preflight(introspection(worker_class=worker))
    assert len(result.refusals) == 1
    assert "ASGI" in result.refusals[0] and worker in result.refusals[0]


def test_unreadable_gunicorn_settings_are_refused_with_the_errors():
    intro = introspection()
    intro["gunicorn"] = None
    intro["errors"] = ["gunicorn config: SyntaxError: invalid syntax"]
    result = preflight(intro)
    assert result.refusals == ["could not read gunicorn's effective settings: "
                               "gunicorn config: SyntaxError: invalid syntax"]


def test_native_pool_is_refused():
    intro = introspection()
    intro["databases"]["replica"] = {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 0,
                                     "pool": {"min_size": 2}}
    result = preflight(intro)
    assert len(result.refusals) == 1
    assert "'replica'" in result.refusals[0] and "pool" in result.refusals[0]


def test_db_budget_over_max_connections_is_refused_with_the_arithmetic():
    result = preflight(introspection(), hosts=7)
    assert result.refusals == ["database 'default': 2 workers x 8 threads x 7 hosts = 112 persistent connections "
                               "> max_connections 100"]


def test_db_budget_exactly_at_max_connections_only_warns():
    intro = introspection()
    intro["db_server"]["default"]["max_connections"] = 96
    result = preflight(intro, hosts=6)
    assert result.refusals == []
    assert "database 'default': 96 persistent connections is over 80% of max_connections 96" in result.warnings


def test_db_budget_uses_the_playbook_target_not_the_live_settings():
    result = preflight(introspection(), hosts=7, target=Target.sync())
    assert result.refusals == []  # 4 workers x 1 thread x 7 hosts = 28


def test_short_wait_timeout_and_unreadable_budget_warn():
    intro = introspection()
    intro["db_server"] = {"default": {"max_connections": 1000, "wait_timeout": 60},
                          "other": {"error": "permission denied"}}
    warnings = preflight(intro).warnings
    assert any("wait_timeout 60s < CONN_MAX_AGE 600s" in w for w in warnings)
    assert "database 'other': could not read the server's budget: permission denied" in warnings


@pytest.mark.parametrize("version, warns", [("4.0.10", True), ("3.2.25", True), ("4.0rc1", True),
                                            ("4.1", False), ("5.0.3", False), (None, False)])
def test_django_before_4_1_warns_about_health_checks(version, warns):
    intro = introspection()
    intro["versions"]["django"] = version
    warnings = [w for w in preflight(intro).warnings if "CONN_HEALTH_CHECKS" in w]
    assert bool(warnings) is warns
    if warns:
        assert warnings == [f"Django {version} ignores CONN_HEALTH_CHECKS (needs 4.1+)"]


def test_no_health_check_warning_when_the_playbook_does_not_set_them():
    intro = introspection()
    intro["versions"]["django"] = "3.2.25"
    result = preflight(intro, target=Target(conn_health_checks=False))
    assert not any("CONN_HEALTH_CHECKS" in w for w in result.warnings)


def test_preload_warns():
    warnings = preflight(introspection(preload_app=True)).warnings
    assert any(w.startswith("preload_app is on") for w in warnings)


def test_gevent_code_warns_with_file_and_line():
    settings = ("import os\n"
                "# from gevent import monkey  (commented out: not a finding)\n"
                "from psycogreen.gevent import patch_psycopg\n"
                "patch_psycopg()\n")
    hooks = "def post_fork(server, worker):\n    from gevent import monkey\n    monkey.patch_all()\n"
    files = {
        "/srv/app/schoolsite/settings.py": RemoteFile("/srv/app/schoolsite/settings.py", settings.encode(), "x"),
        "/srv/app/hooks.py": RemoteFile("/srv/app/hooks.py", hooks.encode(), "y"),
        "/srv/app/blob.bin": RemoteFile("/srv/app/blob.bin", b"\xff\xfemonkey.patch_all", "z"),
    }
    warnings = [w for w in preflight(introspection(), files=files).warnings if w.startswith("gevent-specific")]
    assert "gevent-specific code: psycogreen at /srv/app/schoolsite/settings.py:3" in warnings
    assert "gevent-specific code: gevent monkey-patching at /srv/app/hooks.py:3" in warnings
    assert "gevent-specific code: gevent imports at /srv/app/hooks.py:2" in warnings
    assert not any("settings.py:2" in w or "blob.bin" in w for w in warnings)


# --- a baseline that cannot make the after-count a proof ---------------------------------------

def _counted(new, requests=30, errors=0, scope="host"):
    from remediation.verify.measure import Measurement

    return Measurement(requests=requests, errors=errors, new_db_connections=new, db_counter_scope=scope)


def test_gevent_baseline_with_no_connection_cannot_prove_reuse():
    from remediation.verify.verdict import baseline_unproving

    gevent = {"worker_class": "gevent"}
    dbs = {"default": {"CONN_MAX_AGE": 600}}
    reason = baseline_unproving(gevent, dbs, _counted(0))
    assert reason and "cannot prove reuse" in reason and "30 requests" in reason
    assert baseline_unproving(gevent, dbs, _counted(30)) is None  # the problem shows: a proof can follow
    assert baseline_unproving(gevent, dbs, _counted(None)) is None  # not counted: other checks judge
    assert baseline_unproving(gevent, dbs, _counted(0, errors=30)) is None  # all failed: the verdict says so


def test_threaded_baseline_without_connections_needs_no_proof():
    """gthread with CONN_MAX_AGE > 0 reuses already (only health checks missing): 0 is the healthy count."""
    from remediation.verify.verdict import baseline_unproving

    assert baseline_unproving({"worker_class": "gthread"}, {"default": {"CONN_MAX_AGE": 600}}, _counted(0)) is None
    # CONN_MAX_AGE 0 opens one per request whatever the worker: none counted means no DB on the page
    assert baseline_unproving({"worker_class": "sync"}, {"default": {"CONN_MAX_AGE": 0}}, _counted(0))
    # a pooled alias (Django 5.1 OPTIONS["pool"]) is left alone and proves nothing either way
    assert baseline_unproving({"worker_class": "sync"}, {"default": {"CONN_MAX_AGE": 0, "pool": True}},
                              _counted(0)) is None


def test_per_100_requests():
    assert _counted(30).per_100() == 100.0 and _counted(1, requests=8).per_100() == 12.5
    assert _counted(None).per_100() is None


def test_a_slower_request_from_health_checks_alone_is_a_warning():
    """Found on the live-fleet lab: a sync app already reusing its connections got only
    CONN_HEALTH_CHECKS; through a 200 ms round trip to the DB its p95 went 410 -> 711 ms and the
    ratio check rolled a healthy host back. That cost is the setting's own, so it is reported."""
    from remediation.verify.verdict import health_checks_only

    before = {"worker_class": "sync", "new_db_connections": 0, "conn_health_checks": False}
    after = {"worker_class": "sync", "conn_health_checks": True}
    assert health_checks_only(before, after)
    assert not health_checks_only({**before, "new_db_connections": 30}, after)  # it fixed reuse: must be faster
    assert not health_checks_only(before, {**after, "worker_class": "gthread"})  # a switch: judged as usual
    assert not health_checks_only({**before, "conn_health_checks": True}, after)
    assert not health_checks_only(None, after)


def test_requests_output_gives_the_windows_own_length():
    from remediation.verify.measure import parse_requests

    started, rows, window = parse_requests("100.25\n200 0.5\n000 0\n200 1.25\nend 102.0\n")
    assert started == 100.25 and rows == [(200, 500.0), (0, 0.0), (200, 1250.0)] and window == 1.75
    assert parse_requests("100.25\n200 0.5\n")[2] is None  # cut short: no end line


def test_the_requests_script_itself_writes_every_line_and_the_end():
    """The real script under sh, against a port nothing listens on: each failed request still one line."""
    import subprocess

    from remediation.verify.measure import REQUESTS_SCRIPT, parse_requests

    out = subprocess.run(["sh", "-c", REQUESTS_SCRIPT, "sh", "http://127.0.0.1:9/", "5", "2"],
                         capture_output=True, text=True, timeout=60).stdout
    _started, rows, window = parse_requests(out)
    assert [code for code, _ms in rows] == [0] * 5
    assert window is not None and window >= 0


def _acquired(ms: list[float], new: int | None = 0):
    from remediation.verify.measure import Measurement

    return Measurement(requests=len(ms), request_ms=[400.0] * len(ms), acquire_ms=ms, new_db_connections=new)


def test_one_slow_reused_acquisition_far_from_a_connect_is_a_warning():
    """Measured at 20 lab hosts on 2 CPUs: 0 new connections, p50 0.08 ms, one sample 173 ms, connect 3.4 s."""
    from remediation.verify.verdict import slow_reused_acquisition

    before = {"acquire_ms_p50": 3382.32}
    problem, warning = slow_reused_acquisition(before, _acquired([0.08] * 9 + [173.29]), 10)
    assert problem is None and "not a new connection" in warning


def test_slow_reused_acquisitions_that_could_be_connects_still_fail():
    from remediation.verify.verdict import slow_reused_acquisition

    before = {"acquire_ms_p50": 1000.0}
    assert slow_reused_acquisition(before, _acquired([0.1] * 9 + [900.0]), 10)[0]  # as slow as half a connect
    assert slow_reused_acquisition(before, _acquired([30.0] * 10), 10)[0]  # typically slow: p50 over the limit
    assert slow_reused_acquisition(before, _acquired([0.1] * 9 + [50.0], new=None), 10)[0]  # nothing counted
    assert slow_reused_acquisition(None, _acquired([0.1] * 9 + [50.0]), 10)[0]  # no baseline connect to compare
    assert slow_reused_acquisition(before, _acquired([0.1] * 10), 10) == (None, None)
    # the slowest decides, not the p95: two slow waits hide one sample as slow as a connect
    assert slow_reused_acquisition(before, _acquired([0.1] * 17 + [50.0, 50.0, 600.0]), 10)[0]


def test_restart_only_when_the_process_predates_the_files_it_would_run():
    """Files at the target, the running master older than them: only a restart applies them,
    whatever the log says; without the start time, the log's gevent line is what is left."""
    from types import SimpleNamespace

    from remediation.model import GunicornMaster, RemoteFile, RestartMethod, Target, Worker
    from remediation.plan.decide import process_predates_files
    from remediation.plan.inspection import Inspection

    def ins(started, mtime, logs="", workers_started=None, max_requests=0):
        files = {"/srv/app/gunicorn.conf.py": RemoteFile("/srv/app/gunicorn.conf.py", b"", "x", mtime=mtime)}
        workers = [Worker(8, 1, workers_started), Worker(9, 1, workers_started)]
        master = GunicornMaster(7, [], "app", 1000, "/srv/app", None, {}, workers, RestartMethod("supervisor"),
                                started=started)
        gathered = SimpleNamespace(master=master, files=files, logs=logs,
                                   introspection=SimpleNamespace(gunicorn={"max_requests": max_requests}))
        audit = SimpleNamespace(findings=[SimpleNamespace(file="srv/app/gunicorn.conf.py")])
        return Inspection("h", gathered, audit, Target())

    gevent_log = "[2026-12-06 10:00:00 +0000] [7] [INFO] Using worker: gevent\n"
    assert process_predates_files(ins(1000.0, 1010.0), Target()) is True
    assert process_predates_files(ins(1000.0, 990.0, gevent_log), Target()) is False  # the process decides
    assert process_predates_files(ins(1000.0, 1001.5), Target()) is False  # within the start time's margin
    assert process_predates_files(ins(None, 990.0, gevent_log), Target()) is True  # no process facts: the log
    assert process_predates_files(ins(None, 990.0), Target()) is False
    # a HUP after the write: every worker newer than the file, so the reload read it
    assert process_predates_files(ins(1000.0, 1010.0, workers_started=1020.0), Target()) is False
    # unless workers are recycled (max_requests): a recycled worker is no sign of a reload
    assert process_predates_files(ins(1000.0, 1010.0, workers_started=1020.0, max_requests=500), Target()) is True
