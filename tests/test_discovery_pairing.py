"""The two halves of the fix go together: no worker switch without a persistent CONN_MAX_AGE,
no CONN_MAX_AGE raise while a gevent worker stays."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery import audit_files  # noqa: E402
from remediation.model import Target  # noqa: E402
from remediation.discovery.model import OTHER_HALF  # noqa: E402

GEVENT = 'worker_class = "gevent"\nworkers = 2\nthreads = 16\n'


def test_switch_without_settings_in_the_tree_switches_and_reports_the_settings_line() -> None:
    """The switch alone leaks nothing (in the incident CONN_MAX_AGE was already 600): it lands,
    and one finding gives the settings line to add and where (issue #26)."""
    result = audit_files({"gunicorn.conf.py": GEVENT}, Target())
    assert set(result.patched) == {"gunicorn.conf.py"}
    assert 'worker_class = "gthread"' in result.patched["gunicorn.conf.py"]
    half = [f for f in result.findings if f.reason.startswith(OTHER_HALF)]
    assert len(half) == 1
    assert 'DATABASES["default"]["CONN_MAX_AGE"] = 600' in half[0].reason
    assert "at the end of the production settings module" in half[0].reason
    assert result.half_fix()


def test_settings_only_known_at_run_time_get_an_override_at_the_end() -> None:
    files = {"gunicorn.conf.py": GEVENT,
             "app/wsgi.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")\n',
             "app/settings.py": "import os\nfrom .db import load\nDATABASES = load(os.environ['X'])\n\nDEBUG = False\n"}
    result = audit_files(files, Target())
    assert set(result.patched) == {"gunicorn.conf.py", "app/settings.py"}
    assert result.patched["app/settings.py"].endswith(
        'DEBUG = False\nDATABASES["default"]["CONN_MAX_AGE"] = 600\n'
        'DATABASES["default"]["CONN_HEALTH_CHECKS"] = True\n')
    assert not result.half_fix()


def test_override_is_refused_where_a_native_pool_may_be_configured() -> None:
    files = {"gunicorn.conf.py": GEVENT,
             "app/wsgi.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")\n',
             "app/settings.py": "import os\nfrom .db import load\nDATABASES = load(os.environ['X'])\n"
                                "# OPTIONS may carry {'pool': True}\nX = {'pool': True}\n"}
    result = audit_files(files, Target())
    assert set(result.patched) == {"gunicorn.conf.py"}
    assert [f for f in result.findings if f.setting == "CONN_MAX_AGE" and "native pool" in f.reason]


def test_a_template_that_may_still_run_gevent_blocks_the_raise() -> None:
    """Switching the other places and raising CONN_MAX_AGE while a template still renders
    gevent would leak connections: the raise is refused, the switches stand."""
    files = {"deploy/gunicorn.conf.py.j2": 'worker_class = "{{ worker_class }}"\nworkers = 2\n',
             "deploy/gunicorn.conf.py": GEVENT,
             "app/settings.py": 'DATABASES = {"default": {"NAME": "x"}}\n'}
    result = audit_files(files, Target())
    assert "app/settings.py" not in result.patched
    assert not any(f.setting == "CONN_MAX_AGE" and f.action == "patch" for f in result.findings)


def test_both_halves_land_together() -> None:
    files = {"gunicorn.conf.py": GEVENT,
             "app/settings.py": 'DATABASES = {"default": {"NAME": "x"}}\n'}
    result = audit_files(files, Target())
    assert set(result.patched) == {"gunicorn.conf.py", "app/settings.py"}
    assert not [f for f in result.findings if f.reason.startswith("half a fix")]


def test_a_failed_worker_file_drops_the_settings_patch(monkeypatch) -> None:
    from remediation.discovery import orchestrator

    real = orchestrator.validate.check
    monkeypatch.setattr(orchestrator.validate, "check",
                        lambda path, kind, text, **kw: "SyntaxError: injected"
                        if path == "gunicorn.conf.py" else real(path, kind, text, **kw))
    files = {"gunicorn.conf.py": GEVENT,
             "app/settings.py": 'DATABASES = {"default": {"NAME": "x"}}\n'}
    result = audit_files(files, Target())
    assert not result.patched
    assert [f for f in result.findings if f.reason.startswith("half a fix")]


def test_healthy_sync_app_gets_only_the_connection_settings() -> None:
    files = {"gunicorn.conf.py": 'workers = 4\n',
             "app/settings.py": 'DATABASES = {"default": {"NAME": "x"}}\n'}
    result = audit_files(files, Target())
    assert set(result.patched) == {"app/settings.py"}


BLOCKED = {"m05_gevent_monkey_patch_in_config", "p18_llead_monkey_patch_at_import"}  # monkey-patching stays


def test_gunicorn_side_only_variants_of_the_shapes_switch_and_report_the_settings_line() -> None:
    """Every shape whose worker runs gevent, with its settings files taken out (a deploy repo):
    the worker is switched and the settings half is reported with its text (issue #26)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_shapes import CASES, load_case
    from remediation.discovery.model import Hints

    checked = 0
    for name in CASES:
        files, expected = load_case(name)
        deploy_side = {k: v for k, v in files.items() if "DATABASES" not in v}
        if len(deploy_side) == len(files):
            continue
        hints = Hints(**expected["hints"]) if expected.get("hints") else None
        if hints is not None and hints.command:
            continue  # a live host: both halves or nothing (the test below)
        result = audit_files(deploy_side, Target(**expected.get("target", {})), hints)
        if not any(f.setting == "worker_class" and f.current and ("gevent" in f.current or "eventlet" in f.current)
                   for f in result.findings) or name in BLOCKED:
            continue
        checked += 1
        assert any(f.setting == "worker_class" and f.action == "patch" for f in result.findings), name
        half = [f for f in result.findings if f.reason.startswith(OTHER_HALF)]
        assert half and 'DATABASES["default"]["CONN_MAX_AGE"] = 600' in half[0].reason, name
    assert checked >= 30


def test_on_a_live_host_a_switch_without_its_settings_half_is_refused() -> None:
    """On a host both halves are applied and proven before the restart (domain.md): a host whose
    settings half cannot be set is not restarted into the worker half alone."""
    from remediation.discovery.model import HALF_FIX_LIVE, Hints

    hints = Hints(command="/srv/venv/bin/gunicorn -c gunicorn.conf.py app.wsgi")
    result = audit_files({"gunicorn.conf.py": GEVENT}, Target(), hints)
    assert not result.patched
    half = [f for f in result.findings if f.reason.startswith(HALF_FIX_LIVE)]
    assert len(half) == 1 and 'DATABASES["default"]["CONN_MAX_AGE"] = 600' in half[0].reason
