"""Property: random env files, shell scripts and settings never crash the audit.

audit_files turns any unexpected error into a finding (so a user never sees a traceback);
this test is stricter: no such "could not be analysed" finding may appear either, so a bug in
a reader shows up here instead of hiding behind the safety net. Patched Python still compiles.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery import audit_files  # noqa: E402
from remediation.discovery.model import SETTINGS  # noqa: E402
from remediation.model import Target  # noqa: E402

PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CRASH_WORDS = ("audit failed", "could not be analysed", "could not be read (")

names = st.sampled_from(["WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "DJANGO_SETTINGS_MODULE",
                         "GUNICORN_WORKER_CLASS", "DB_CONN_MAX_AGE", "X", "CMD", "EMPTY"])
values = st.one_of(
    st.sampled_from(["", "''", '""', "gevent", "4", "sync", "-k gevent -w 3", "app.settings",
                     '"--worker-class gevent"', "'unterminated", '"also', "${X:-2}", "$(cmd)",
                     "a b # comment", "=", "==", "\\", "%(ENV_X)s"]),
    st.text(max_size=12),
)


@st.composite
def env_file(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["pair", "export", "comment", "blank", "junk"]))
        if kind == "pair":
            lines.append(f"{draw(names)}={draw(values)}")
        elif kind == "export":
            lines.append(f"export {draw(names)}={draw(values)}")
        elif kind == "comment":
            lines.append(f"# {draw(values)}")
        elif kind == "blank":
            lines.append("")
        else:
            lines.append(draw(st.text(max_size=20)))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


shell_pieces = st.sampled_from([
    'X=$(ip link show | awk \'/ether/ {print $2}\' | head -n 1)',
    'CMD="gunicorn app.wsgi -k gevent -w 3"',
    'CMD="$CMD --threads 4"',
    'eval "$CMD"', "exec $CMD", "$CMD",
    ': "${GUNICORN_WORKERS:=4}"', ": ${WC:=gevent}",
    'GUNICORN_WORKER_CLASS=${GUNICORN_WORKER_CLASS:-"sync"}',
    'exec gunicorn app.wsgi --worker-class="${GUNICORN_WORKER_CLASS}" -w ${GUNICORN_WORKERS:-2}',
    "exec gunicorn app.wsgi \\\n    --worker-class gevent \\\n    --workers 4",
    "gunicorn -k ${WC:=gevent} app.wsgi &",
    "cat <<EOF\ngunicorn -k gevent\nEOF",
    "if [ -n \"$X\" ]; then\n  gunicorn -k gevent app\nfi",
    "exec gosu app newrelic-admin run-program gunicorn -c gunicorn.conf.py app.wsgi \"$@\"",
    "sh -c 'gunicorn -k eventlet app'",
    "echo \"unterminated", "$((1 + 2))", "${", "$(", "`date`", "\\",
    "export DJANGO_SETTINGS_MODULE=app.settings",
    "cp app/settings_prod.py app/local_settings.py",
])


@st.composite
def shell_script(draw) -> str:
    pieces = draw(st.lists(st.one_of(shell_pieces, st.text(max_size=15)), max_size=8))
    return draw(st.sampled_from(["#!/bin/sh\n", "#!/bin/bash\nset -e\n", ""])) + "\n".join(pieces) + "\n"


settings_pieces = st.sampled_from([
    "import os", "import dj_database_url", "import environ\nenv = environ.Env()",
    'DATABASES = {"default": {"ENGINE": "x", "NAME": "y"}}',
    "DATABASES = {\n    'default': {\n        'NAME': 'y'\n    }\n}",
    'DATABASES = {"default": dj_database_url.config(conn_max_age=0)}',
    'DATABASES = {"default": env.db("DATABASE_URL")}',
    'DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("X", 0))',
    'DATABASES["default"].update({"CONN_MAX_AGE": 60})',
    'if os.getenv("DB") == "pg":\n    DATABASES = {"default": {"NAME": "pg"}}\nelse:\n    DEBUG = True',
    'for alias in DATABASES:\n    DATABASES[alias]["TEST"] = {}',
    "from .base import *", "from .local_settings import *",
    "try:\n    from .local import *\nexcept ImportError:\n    pass",
    'DATABASES = {"default": {"OPTIONS": {"pool": True}}}',
    "DEBUG = True", 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")',
    "DATABASES = None", "DATABASES = DATABASES", "del DATABASES",
    'DATABASES = {ALIAS: {}}', "DATABASES = {**OTHER}", "def f():\n    return 1",
    "class C:\n    pass", "x = (", "lambda: 0",
])


@st.composite
def settings_module(draw) -> str:
    pieces = draw(st.lists(st.one_of(settings_pieces, st.text(max_size=15)), max_size=8))
    return "\n".join(pieces) + "\n"


@st.composite
def tree(draw) -> dict[str, str]:
    files = {
        ".env.example": draw(env_file()),
        "docker/entrypoint.sh": draw(shell_script()),
        "app/settings.py": draw(settings_module()),
        "app/settings_prod.py": draw(settings_module()),
    }
    if draw(st.booleans()):
        files["app/base.py"] = draw(settings_module())
    if draw(st.booleans()):
        files["gunicorn.conf.py"] = draw(st.sampled_from([
            'worker_class = "gevent"\nworkers = 2\n', "threads = 4\n", "", "workers = (\n",
            'import os\nworker_class = os.environ.get("C", "gevent")\n']))
    if draw(st.booleans()):
        files["Procfile"] = draw(st.sampled_from([
            "web: gunicorn app.wsgi\n", "web: gunicorn -k gevent -w 3 app.wsgi\n", "web:\n", ":\n"]))
    return files


@PROPERTY
@given(tree())
def test_random_trees_never_crash_the_audit(files: dict[str, str]) -> None:
    result = audit_files(files, Target())
    for finding in result.findings:
        assert finding.setting in SETTINGS and finding.action in ("patch", "report", "ok")
        assert not any(w in finding.reason for w in CRASH_WORDS), finding
    for path, text in result.patched.items():
        if path.endswith(".py"):
            compile(text, path, "exec", dont_inherit=True)
    # Idempotent where it patched: the patched tree needs nothing more.
    if result.patched:
        again = audit_files({**files, **result.patched}, Target())
        assert not again.patched, again.diff


@PROPERTY
@given(st.dictionaries(st.sampled_from([".env", "start.sh", "settings.py", "Dockerfile",
                                        "docker-compose.yml", "Procfile", "app.service",
                                        "supervisord.conf", "gunicorn.conf.py"]),
                       st.text(max_size=200), max_size=5))
def test_arbitrary_text_in_any_source_never_crashes(files: dict[str, str]) -> None:
    result = audit_files(files, Target())
    for finding in result.findings:
        assert not any(w in finding.reason for w in CRASH_WORDS), finding
