"""Which settings module is production, and which files are not deployments."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery import audit_files  # noqa: E402
from remediation.model import Target  # noqa: E402

DB = 'DATABASES = {"default": {"NAME": "x"}}\n'


def chosen(result) -> str:
    return next(f.reason for f in result.findings if f.reason.startswith("production settings:"))


def test_environment_beats_wsgi_setdefault() -> None:
    files = {"Dockerfile": "FROM python\nENV DJANGO_SETTINGS_MODULE=app.settings.prod\nCMD gunicorn app.wsgi\n",
             "app/wsgi.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'app.settings.base')\n",
             "app/settings/base.py": DB, "app/settings/prod.py": "from .base import *\nX = 1\n"}
    result = audit_files(files, Target())
    assert "app/settings/prod.py" in chosen(result) and "Dockerfile" in chosen(result)


def test_example_settings_are_never_production() -> None:
    files = {"app/settings/production.example.py": DB, "Procfile": "web: gunicorn app.wsgi\n"}
    result = audit_files(files, Target())
    assert not result.patched
    assert any("example settings file" in f.reason for f in result.findings)


def test_dev_settings_named_by_wsgi_are_not_patched() -> None:
    files = {"app/wsgi.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'app.local')\n",
             "app/local.py": DB + "DEBUG = True\n"}
    result = audit_files(files, Target())
    assert not result.patched
    assert "never patched as production" in chosen(result)


def test_documentation_examples_are_not_deployments() -> None:
    files = {"docs/deploy/gunicorn.sh": "#!/bin/sh\nexec gunicorn -k gevent app.wsgi\n",
             "app/settings.py": DB}
    result = audit_files(files, Target())
    assert "docs/deploy/gunicorn.sh" not in result.patched
    assert any(f.file == "docs/deploy/gunicorn.sh" and "documentation example" in f.reason
               for f in result.findings)
