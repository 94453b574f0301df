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

GEVENT = 'worker_class = "gevent"\nworkers = 2\nthreads = 16\n'


def test_switch_without_settings_in_the_tree_patches_nothing() -> None:
    result = audit_files({"gunicorn.conf.py": GEVENT}, Target())
    assert not result.patched
    half = [f for f in result.findings if f.reason.startswith("half a fix")]
    assert len(half) == 1
    assert 'DATABASES["default"]["CONN_MAX_AGE"] = 600' in half[0].reason
    assert "gunicorn.conf.py:1" in half[0].reason


def test_switch_with_a_refused_conn_max_age_patches_nothing() -> None:
    files = {"gunicorn.conf.py": GEVENT,
             "app/settings.py": "from .db import DATABASES\n",
             "app/db.py": "import os\nDATABASES = load(os.environ['X'])\n"}
    result = audit_files(files, Target())
    assert not result.patched
    half = [f for f in result.findings if f.reason.startswith("half a fix")]
    assert len(half) == 1 and half[0].setting == "CONN_MAX_AGE"


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
