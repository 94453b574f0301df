"""Fleet inspect's pure parts: static values, the verdict against the target, the audit cache."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from remediation.facts.parse import parse_probe
from remediation.facts.gather import Gathered
from remediation.model import RemoteFile
from remediation.fleet.survey import AuditCache, off_target, static_values
from remediation.model import Target

PROBE = json.loads((Path(__file__).parent / "fixtures" / "probe" / "supervisor.json").read_text())
GUNICORN = b"worker_class = 'gevent'\nworkers = 2\nthreads = 16\n"
SETTINGS = b'DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}}\n'


def gathered(gunicorn: bytes = GUNICORN, settings: bytes = SETTINGS) -> Gathered:
    facts = parse_probe(copy.deepcopy(PROBE))
    files = {"/srv/app/gunicorn.conf.py": RemoteFile("/srv/app/gunicorn.conf.py", gunicorn, "a"),
             "/srv/app/schoolsite/settings.py": RemoteFile("/srv/app/schoolsite/settings.py", settings, "b")}
    return Gathered(facts, facts.master(), files=files)


def test_static_values_come_from_the_deciding_places():
    audit = AuditCache().audit(gathered(), Target())
    values = static_values(audit)
    assert values["worker_class"].strip("'\"") == "gevent" and values["workers"] == "2" and values["threads"] == "16"
    assert values["CONN_MAX_AGE"] is None  # not set anywhere: Django's default
    assert set(off_target(values, Target())) == {"worker_class", "threads", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"}


def test_off_target_reads_defaults_and_full_class_names():
    done = {"worker_class": "gunicorn.workers.gthread.ThreadWorker", "workers": "2", "threads": "8",
            "CONN_MAX_AGE": "600", "CONN_HEALTH_CHECKS": "True"}
    assert off_target(done, Target()) == []
    assert off_target({}, Target()) == ["worker_class", "workers", "threads", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"]
    assert off_target({"worker_class": "sync", "workers": "4"}, Target.sync()) == ["CONN_MAX_AGE",
                                                                                    "CONN_HEALTH_CHECKS"]


def test_one_audit_per_distinct_file_set():
    cache = AuditCache()
    first = cache.audit(gathered(), Target())
    assert cache.audit(gathered(), Target()) is first and cache.hits == 1
    other = cache.audit(gathered(gunicorn=GUNICORN.replace(b"16", b"4")), Target())
    assert other is not first and cache.hits == 1 and len(cache.results) == 2
    assert cache.audit(gathered(), Target.sync()) is not first  # the target is part of the key


def test_a_place_that_sets_nothing_does_not_override_one_that_does():
    """Models varied host var9 (seed 780951): a compose command without -k sorts after the config
    file that reads the class from a variable; "no class set" there is no value, so the config's
    unresolved variable stands (unknown), not gunicorn's default sync."""
    from remediation.discovery.model import AuditResult, Finding

    audit = AuditResult(findings=[
        Finding("srv/app/conf/gunicorn_live.py", 4, "worker_class", "$APP_WORKER_CLASS, default 'sync'", None, "ok",
                "reads the class from the environment"),
        Finding("srv/app/docker-compose.yml", None, "worker_class", "sync", None, "ok",
                "compose service web: no class set", default=True)])
    assert static_values(audit)["worker_class"].startswith("unknown")
    alone = AuditResult(findings=[audit.findings[1]])
    assert static_values(alone)["worker_class"] == "sync"  # nothing else sets it: the default is the value


def test_a_value_computed_where_it_runs_is_unknown_not_its_expression():
    """Models real-file host real6 (InvenTree's gunicorn.conf.py: `workers =
    multiprocessing.cpu_count() * 2 + 1`): the files fix no number, so the fast reading says
    unknown, never the expression as if it were the value."""
    conf = b"import multiprocessing\nworker_class = 'gthread'\nworkers = multiprocessing.cpu_count() * 2 + 1\n"
    values = static_values(AuditCache().audit(gathered(gunicorn=conf), Target()))
    assert values["workers"].startswith("unknown (") and "cpu_count" in values["workers"]
    assert values["worker_class"].strip("'\"") == "gthread"  # a literal stays read for certain


def test_sync_with_threads_reads_as_the_gthread_gunicorn_runs():
    """Models real-file host real9 (NetBox's gunicorn.conf: `threads=3` and no worker_class):
    gunicorn runs (and reports) gthread for sync with threads > 1, so the fast reading does too."""
    values = static_values(AuditCache().audit(gathered(gunicorn=b"bind = '127.0.0.1:8000'\nworkers = 3\nthreads = 3\n"),
                                              Target()))
    assert values["worker_class"] == "gthread" and values["threads"] == "3"
    one = static_values(AuditCache().audit(gathered(gunicorn=b"workers = 3\nthreads = 1\n"), Target()))
    assert one["worker_class"] in (None, "sync")
