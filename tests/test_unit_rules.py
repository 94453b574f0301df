"""Each rule once: the version parser, the worker classification (and what it decides: kept
capacity, the ASGI/custom refusal, the warm-up) and the precedence ranks, pinned on the cases
where copies of these rules used to disagree."""
from __future__ import annotations

import pytest

from remediation.config.playbook import load_playbook
from remediation.discovery.model import Rank
from remediation.discovery.versions import scan
from remediation.discovery.worker_classes import WorkerKind, classify, refused_as, warms_up
from remediation.model import Target
from remediation.plan.decide import Verdict, decide, host_target
from remediation.plan.preflight import check
from remediation.versions import older_than, parse_version, release
from test_unit_measure_preflight import inspect, introspection

# --- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("4.0rc1", (4, 0)),  # one copy read (4, 1): a 4.0 release candidate was given health checks
    ("3.2b2", (3, 2)),  # one copy read (3, 22)
    ("4.1rc1", (4, 1)),  # a pre-release of 4.1 already has 4.1's settings
    ("4.2.11", (4, 2, 11)),
    ("5.0.dev20230101", (5, 0)),
    ("==3.2b2", (3, 2)), (">=4.1", (4, 1)), ("~=4.1.0", (4, 1, 0)), ("^4.1", (4, 1)),
    ("4.2.*", (4, 2)), ("v4.2", (4, 2)), ("4.2.1+local", (4, 2, 1)),
    ("", None), (None, None), ("abc", None),
])
def test_one_version_parser_reads_pep_440(text, expected):
    assert release(text) == expected


def test_pre_releases_order_as_pep_440_says():
    assert parse_version("4.0rc1") < parse_version("4.0") < parse_version("4.1rc1") < parse_version("4.1")
    assert parse_version("3.2b2") < parse_version("3.2")


@pytest.mark.parametrize("django,old", [("4.0rc1", True), ("3.2b2", True), ("4.1rc1", False), ("4.1", False),
                                        ("5.0", False), (None, False), ("", False)])
def test_health_checks_are_dropped_below_django_4_1_in_decide_and_preflight_alike(django, old):
    assert older_than(django, (4, 1)) is old
    gunicorn = {"worker_class": "gevent", "workers": 2, "threads": 16}
    assert host_target(gunicorn, {"django": django}, Target()).conn_health_checks is not old
    intro = introspection()
    intro["versions"]["django"] = django
    warned = [w for w in check(inspect(intro), 1).warnings if "ignores CONN_HEALTH_CHECKS" in w]
    assert bool(warned) is old


def test_requirement_files_use_the_same_parser():
    versions = scan({"requirements.txt": "Django==3.2b2\ndj-database-url>=1.1rc1\n"})
    assert versions.lower["django"] == versions.upper["django"] == (3, 2)
    assert versions.at_least("django", (4, 1)) is False
    assert versions.at_least("dj-database-url", (1, 1)) is True


# --- worker classes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", [
    ("gevent", WorkerKind.GEVENT), ("eventlet", WorkerKind.GEVENT), ("egg:gunicorn#eventlet", WorkerKind.GEVENT),
    ("gunicorn.workers.geventlet.EventletWorker", WorkerKind.GEVENT),
    ("sync", WorkerKind.SYNC), ("gunicorn.workers.gthread.ThreadWorker", WorkerKind.THREADED),
    ("uvicorn.workers.UvicornWorker", WorkerKind.ASGI), ("hypercorn.workers.HypercornWorker", WorkerKind.ASGI),
    ("daphne.Worker", WorkerKind.ASGI), ("myapp.asgi_worker.W", WorkerKind.ASGI),
    ("myapp.workers.TimedGeventWorker2", WorkerKind.CUSTOM_GEVENT), ("myapp.workers.Custom", WorkerKind.CUSTOM),
])
def test_one_classification(name, kind):
    assert classify(name) == kind
    assert classify(name) == str(kind)  # the strings reports and older callers compare with


@pytest.mark.parametrize("name", ["eventlet", "egg:gunicorn#eventlet", "gevent", "gevent_pywsgi",
                                  "gunicorn.workers.ggevent.GeventWorker", "myapp.workers.TimedGeventWorker2"])
def test_gevent_like_workers_get_no_warm_up(name):
    assert not warms_up(name)  # `!= "gevent"` once warmed eventlet up


@pytest.mark.parametrize("name", ["sync", "gthread", "gunicorn.workers.gthread.ThreadWorker", None])
def test_threaded_and_unknown_workers_are_warmed_up(name):
    assert warms_up(name)


def test_the_verify_task_takes_its_warm_up_rule_from_the_classification():
    import inspect as pyinspect

    from remediation.cli import host

    assert "warms_up(" in pyinspect.getsource(host._verify_app)  # each app verify measures


ASGI_AND_CUSTOM = [("hypercorn.workers.HypercornWorker", "an ASGI worker class"),
                   ("uvicorn.workers.UvicornWorker", "an ASGI worker class"),
                   ("myapp.workers.Custom", "a custom worker class"),
                   ("myapp.workers.TimedGeventWorker2", "a custom worker class")]


@pytest.mark.parametrize("name,what", ASGI_AND_CUSTOM)
def test_decide_and_preflight_refuse_asgi_and_custom_classes_alike(name, what):
    assert refused_as(name) == what
    ins = inspect(introspection(worker_class=name))
    decision = decide(ins, None, None, load_playbook(), force=False)
    assert decision.verdict == Verdict.BLOCKED
    assert f"gunicorn runs {what} ({name})" in decision.reason
    refusals = check(ins, 1).refusals
    assert len(refusals) == 1 and f"gunicorn runs {what} ({name})" in refusals[0]


@pytest.mark.parametrize("name", ["gevent", "eventlet", "sync", "gthread", "egg:gunicorn#gevent", "tornado",
                                  "gunicorn.workers.gtornado.TornadoWorker", None, ""])
def test_built_in_classes_are_not_refused_as_asgi_or_custom(name):
    assert refused_as(name) is None


# --- precedence ranks ---------------------------------------------------------------------------


def test_one_rank_order():
    assert Rank.DEAD < Rank.OK < Rank.REPORT < Rank.PATCH < Rank.PROTECTED
    assert [Rank.of(a) for a in ("ok", "report", "patch")] == [Rank.OK, Rank.REPORT, Rank.PATCH]
