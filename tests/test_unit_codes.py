"""Codes decide, words explain: decisions read Finding.code and an outcome's exception type,
never the words of a reason or a detail (which stay as they were, for people)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediation.discovery import audit_files
from remediation.discovery.model import (HALF_FIX, HALF_FIX_LIVE, HALF_FIXES, OTHER_HALF, AuditResult, Finding,
                                         FindingCode, Hints)
from remediation.discovery.pairing import db_text
from remediation.errors import HostUnreachable, RemoteError
from remediation.fleet.survey import defaulted, static_values
from remediation.model import HostOutcome, Outcome, Target
from remediation.plan.preflight import check
from test_unit_measure_preflight import inspect, introspection

ROOT = Path(__file__).resolve().parents[1]


def test_no_decision_reads_the_words_of_a_reason_or_a_detail():
    """The patterns the issue counted (reason.startswith, `in f.reason`, `in o.detail`, ...) are gone."""
    banned = re.compile(r"\.reason\.(startswith|endswith)\(|(in|not in) (f|finding|o|outcome|p\.finding)\."
                        r"(reason|detail)\b|search\([^)]*\.reason\)")
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for path in sorted((ROOT / "remediation").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if banned.search(line)]
    assert hits == []


# --- survey's static values ---------------------------------------------------------------------


def f(setting, current, action, reason, code=None, **kw):
    return Finding("deadline/gunicorn.conf.py", 1, setting, current, None, action, reason, code=code, **kw)


def test_a_report_that_only_mentions_dead_or_not_used_still_counts():
    """A file under deadline/ or a reason quoting 'not used' used to vanish from the static view."""
    result = AuditResult([f("threads", "4", "report", "deadline/gunicorn.conf.py: not used here? read it by hand")])
    assert static_values(result)["threads"].startswith("unknown")


def test_dead_and_not_production_findings_are_skipped_by_their_code():
    result = AuditResult([
        f("worker_class", "'gevent'", "report", "overridden", FindingCode.DEAD),
        f("CONN_MAX_AGE", "0", "report", "test settings, left untouched", FindingCode.NOT_PRODUCTION),
        f("workers", "1", "ok", "no class set", FindingCode.DEAD, default=True),
    ])
    values = static_values(result)
    assert values["worker_class"] is None and values["CONN_MAX_AGE"] is None
    assert defaulted(result) == set()


def test_a_kept_asgi_class_is_a_certain_value_by_its_code():
    kept = f("worker_class", "uvicorn.workers.UvicornWorker", "report", "reviewed", FindingCode.KEPT_CLASS)
    assert static_values(AuditResult([kept]))["worker_class"] == "uvicorn.workers.UvicornWorker"
    worded = f("worker_class", "x.Worker", "report", "its worker settings are kept")  # words alone decide nothing
    assert static_values(AuditResult([worded]))["worker_class"].startswith("unknown")


# --- the discovery sets the codes ---------------------------------------------------------------

CONFIG = "worker_class = 'gevent'\nworkers = 2\nthreads = 16\n"
SETTINGS = "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'x', 'CONN_MAX_AGE': 0}}\n"


def test_a_place_the_command_line_overrides_is_coded_dead():
    files = {"srv/app/gunicorn.conf.py": CONFIG, "srv/app/app/settings.py": SETTINGS}
    live = "/srv/venv/bin/gunicorn -c /srv/app/gunicorn.conf.py -k gevent app.wsgi:application"
    result = audit_files(files, Target(), Hints(command=live, cwd="srv/app", config_path="srv/app/gunicorn.conf.py",
                                                settings_module="app.settings"))
    dead = [x for x in result.findings if x.setting == "worker_class" and x.file == "srv/app/gunicorn.conf.py"]
    assert dead and all(x.code == FindingCode.DEAD for x in dead)
    assert all("dead:" in x.reason for x in dead)  # the words are unchanged
    assert all(x.code != FindingCode.DEAD for x in result.findings if "dead:" not in x.reason)


def test_a_half_fix_is_known_by_its_code():
    coded = Finding("a.py", 1, "CONN_MAX_AGE", None, "600", "report", f"{HALF_FIX}: ...", code=FindingCode.HALF_FIX)
    assert AuditResult([coded]).half_fix()
    assert not AuditResult([Finding("a.py", 1, "CONN_MAX_AGE", None, "600", "report", f"{HALF_FIX}: quoted")]).half_fix()


def test_the_half_fix_text_names_the_alias_the_finding_carries():
    finding = Finding("s.py", 3, "CONN_MAX_AGE", "0", "600", "report", "reason without a label", alias="replica")
    assert db_text(Target(), finding) == 'DATABASES["replica"]["CONN_MAX_AGE"] = 600'
    assert db_text(Target(), Finding("s.py", 3, "worker_class", None, None, "report", "x")) \
        == 'DATABASES["default"]["CONN_MAX_AGE"] = 600'


def test_findings_of_a_databases_entry_carry_its_alias():
    settings = ("DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'x'},\n"
                "             'replica': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'y'}}\n")
    result = audit_files({"app/settings.py": settings, "gunicorn.conf.py": CONFIG}, Target(),
                         Hints(settings_module="app.settings"))
    by_alias = {(x.alias, x.setting) for x in result.findings if x.setting in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    assert ("default", "CONN_MAX_AGE") in by_alias and ("replica", "CONN_MAX_AGE") in by_alias
    for x in result.findings:
        if x.alias:
            assert f"DATABASES[{x.alias!r}]" in x.reason
    assert "alias" not in result.findings[0].as_json() and "code" not in result.findings[0].as_json()


# --- the pairing of the two halves (issue #26) is known by codes ---------------------------------

GEVENT = 'worker_class = "gevent"\nworkers = 2\nthreads = 16\n'
WSGI = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")\n'


def _shape(name):
    from test_shapes import load_case
    files, expected = load_case(name)
    hints = Hints(**expected["hints"]) if expected.get("hints") else None
    return audit_files(files, Target(**expected.get("target", {})), hints)


def test_the_half_fixes_are_known_by_their_codes():
    switched = audit_files({"gunicorn.conf.py": GEVENT}, Target())
    assert [x.code for x in switched.findings if x.code in HALF_FIXES] == [FindingCode.OTHER_HALF]
    assert switched.half_fix()
    live = audit_files({"gunicorn.conf.py": GEVENT}, Target(), Hints(command="/srv/venv/bin/gunicorn -c gunicorn.conf.py app.wsgi"))
    assert [x.code for x in live.findings if x.code in HALF_FIXES] == [FindingCode.HALF_FIX_LIVE]
    for words in (HALF_FIX_LIVE, OTHER_HALF):  # the words alone decide nothing
        assert not AuditResult([Finding("a.py", 1, "CONN_MAX_AGE", None, "600", "report", f"{words}: quoted")]).half_fix()


def test_a_settings_module_not_in_the_tree_is_named_by_a_field_not_parsed_from_words():
    result = audit_files({"gunicorn.conf.py": GEVENT, "app/wsgi.py": WSGI}, Target())
    missing = [x for x in result.findings if x.code == FindingCode.SETTINGS_NOT_IN_TREE]
    assert missing and missing[0].module == "app.settings"
    assert "module" not in missing[0].as_json()
    half = [x for x in result.findings if x.code == FindingCode.OTHER_HALF]
    assert half and "at the end of the settings module app.settings" in half[0].reason


def test_a_native_pool_and_no_database_are_not_the_incident_by_their_codes():
    pooled = _shape("n06_native_pool_with_gevent")
    assert [x.code for x in pooled.findings if x.setting == "worker_class" and x.action == "report"
            and x.code in (FindingCode.POOLED, FindingCode.NOT_INCIDENT)] == [FindingCode.POOLED]
    bare = _shape("n13_great_international_ui_no_database")
    assert any(x.code == FindingCode.NO_DATABASE for x in bare.findings)
    assert any(x.code == FindingCode.NOT_INCIDENT for x in bare.findings)
    assert not bare.patched


def test_code_that_may_set_any_global_is_known_by_the_state_not_by_the_words_of_its_note():
    hidden = "from site_local import *\n"
    result = audit_files({"gunicorn.conf.py": GEVENT, "app/wsgi.py": WSGI, "app/__init__.py": "",
                          "app/settings.py": hidden}, Target())
    assert not any(x.code == FindingCode.NO_DATABASE for x in result.findings)
    assert any("site_local, which is not in the tree" in x.reason for x in result.findings)


def test_gevent_code_is_only_said_with_a_switch_by_its_code():
    files = {"gunicorn.conf.py": GEVENT + "from psycogreen.gevent import patch_psycopg\n",
             "app/settings.py": SETTINGS, "app/wsgi.py": WSGI, "app/__init__.py": ""}
    result = audit_files(files, Target())
    assert any(x.code == FindingCode.GEVENT_CODE for x in result.findings)
    assert all(x.code == FindingCode.GEVENT_CODE for x in result.findings if "gevent-specific code" in x.reason)


# --- preflight and the inspection's blockers ----------------------------------------------------


def test_preflight_skips_a_not_live_command_by_its_code():
    ins = inspect(introspection())
    ins.audit.findings = [
        Finding("Procfile", 1, "worker_class", None, None, "report", "web: not the live command line; left untouched",
                code=FindingCode.NOT_LIVE),
        Finding("run.sh", 2, "worker_class", None, None, "report", "a wrapper that says it is not the live one"),
    ]
    warned = [w for w in check(ins, 1).warnings if w.startswith(("Procfile", "run.sh"))]
    assert warned == ["run.sh: a wrapper that says it is not the live one"]


def test_an_unreadable_file_blocks_by_its_code():
    ins = inspect(introspection())
    ins.audit.findings = [
        Finding("srv/app/gunicorn.conf.py", None, "worker_class", None, None, "report", "cannot read: not UTF-8",
                code=FindingCode.UNREADABLE),
        Finding("srv/app/x.py", None, "worker_class", None, None, "report", "cannot read: quoted, not a failure"),
    ]
    assert ins.blockers() == ["/srv/app/gunicorn.conf.py: cannot read: not UTF-8"]


def test_a_file_that_is_not_utf8_is_coded_unreadable():
    result = audit_files({"gunicorn.conf.py": b"worker_class = '\xff'\n"}, Target(), Hints())
    unreadable = [x for x in result.findings if x.code == FindingCode.UNREADABLE]
    assert unreadable and unreadable[0].reason.startswith("cannot read:")


# --- rollback outcomes --------------------------------------------------------------------------


@pytest.mark.parametrize("error,detail,unreachable", [
    (HostUnreachable, "web1: connection refused", True),
    (HostUnreachable, "web1: SSH to 10.0.0.1:22 failed: banner timeout", True),
    (RemoteError, "web1: the app cannot reach its database", False),
    (RemoteError, "web1: lock file says unreachable", False),
    (None, "", False),
])
def test_an_outcome_is_unreachable_by_its_exception_type(error, detail, unreachable):
    outcome = HostOutcome("web1", Outcome.FAILED, detail, error=error)
    assert outcome.unreachable is unreachable
    assert outcome.line() == "FAILED" + (f": {detail}" if detail else "")  # the words are unchanged


def test_sync_with_threads_reads_as_the_gthread_worker_gunicorn_runs():
    """NetBox's config sets threads = 3 and no class (real9): gunicorn runs gthread, and the static
    view says so; sync with one thread, or another class, stays as read."""
    def values(klass, threads):
        return static_values(AuditResult([f("worker_class", klass, "ok", "kept", default=klass == "sync", value=klass),
                                           f("threads", threads, "ok", "kept", value=threads)]))["worker_class"]

    assert values("sync", "3") == "gthread"
    assert values("'sync'", "1") == "'sync'"
    assert values("gevent", "3") == "gevent"
