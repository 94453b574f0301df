"""Render one lab host's files in the incident's broken state.

The Django project is the same everywhere; the settings are written in a different
shape per host (dict literal, split base/production, dj-database-url) so the tool
cannot assume one layout. Every host starts with the incident's gunicorn config.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from lab import config
from lab.config import HostSpec

PROJECT_TEMPLATE = Path(__file__).parent / "app" / "project"

BROKEN_GUNICORN_CONF = '''\
# gunicorn configuration for schoolsite (the incident's settings)
bind = "0.0.0.0:8000"
worker_class = 'gevent'
workers = 2
threads = 16
worker_connections = 1000
timeout = 30
graceful_timeout = 10
accesslog = "-"
loglevel = "info"
'''

COMMON_SETTINGS = '''\
SECRET_KEY = "lab-only-{name}"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "schools"]
MIDDLEWARE = []
ROOT_URLCONF = "schoolsite.urls"
WSGI_APPLICATION = "schoolsite.wsgi.application"
USE_TZ = True
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {{"plain": {{"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}}}},
    "handlers": {{"stderr": {{"class": "logging.StreamHandler", "formatter": "plain"}}}},
    "loggers": {{"schools.sql": {{"handlers": ["stderr"], "level": "INFO", "propagate": False}}}},
}}
'''

ENGINES = {"postgres": "django.db.backends.postgresql", "mariadb": "django.db.backends.mysql"}
URL_SCHEMES = {"postgres": "postgres", "mariadb": "mysql"}


def settings_module(spec: HostSpec) -> str:
    """The DJANGO_SETTINGS_MODULE the host's process runs with."""
    return "schoolsite.settings.production" if spec.settings_shape == "split" else "schoolsite.settings"


def _db_dict(spec: HostSpec, password: str, conn_max_age_line: str) -> str:
    lines = [
        f'"ENGINE": "{ENGINES[spec.database]}"',
        f'"NAME": "{spec.db_name}"',
        f'"USER": "{spec.db_user}"',
        f'"PASSWORD": "{password}"',
        f'"HOST": "{config.BRIDGE_ADDRESS}"',
        f'"PORT": "{spec.db_proxy_port}"',
    ]
    if conn_max_age_line:
        lines.append(conn_max_age_line)
    body = "".join(f"        {line},\n" for line in lines)
    return "DATABASES = {\n    \"default\": {\n" + body + "    }\n}\n"


def _settings_files(spec: HostSpec, password: str) -> dict[str, str]:
    common = COMMON_SETTINGS.format(name=spec.name)
    # PostgreSQL hosts carry the incident's CONN_MAX_AGE = 600 (set, yet useless under
    # gevent, and leaking); MariaDB hosts have none (Django's default 0).
    persistent = spec.database == "postgres"
    if spec.settings_shape == "dict":
        age = '"CONN_MAX_AGE": 600' if persistent else ""
        return {"schoolsite/settings.py": "import os\n\n" + common + "\n" + _db_dict(spec, password, age)}
    if spec.settings_shape == "dburl":
        url = (f"{URL_SCHEMES[spec.database]}://{spec.db_user}:{password}@"
               f"{config.BRIDGE_ADDRESS}:{spec.db_proxy_port}/{spec.db_name}")
        kwargs = ", conn_max_age=600" if persistent else ""
        return {"schoolsite/settings.py": (
            "import dj_database_url\n\n" + common + "\n"
            "DATABASES = {\n"
            f'    "default": dj_database_url.config(default="{url}"{kwargs}),\n'
            "}\n")}
    if spec.settings_shape == "split":
        base_age = '"CONN_MAX_AGE": 600' if persistent else ""
        production = textwrap.dedent('''\
            """Production settings: what the servers run."""
            import os

            from .base import *  # noqa: F401,F403

            DEBUG = False
            DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DB_CONN_MAX_AGE", 0))
            ''')
        test = textwrap.dedent('''\
            """Settings for the test runner: never used by the servers."""
            from .base import *  # noqa: F401,F403

            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
            ''')
        return {
            "schoolsite/settings/__init__.py": "",
            "schoolsite/settings/base.py": "import os\n\n" + common + "\n" + _db_dict(spec, password, base_age),
            "schoolsite/settings/production.py": production,
            "schoolsite/settings/test.py": test,
        }
    raise ValueError(f"unknown settings shape {spec.settings_shape!r}")


def compose_file(spec: HostSpec) -> str:
    """The host's docker-compose.yml (compose hosts only)."""
    return textwrap.dedent(f'''\
        # schoolsite web service (lab host {spec.name})
        version: "2.4"
        services:
          web:
            image: {config.APP_IMAGE}
            network_mode: host
            working_dir: /srv/app
            volumes:
              - /srv/app:/srv/app
            environment:
              DJANGO_SETTINGS_MODULE: {settings_module(spec)}
              PYTHONUNBUFFERED: "1"
            command: /opt/venv/bin/gunicorn -c /srv/app/gunicorn.conf.py schoolsite.wsgi:application
            restart: unless-stopped
        ''')


def supervisor_program(spec: HostSpec, command: str | None = None, environment: dict | None = None) -> str:
    """The supervisor program section that runs gunicorn (supervisor hosts only)."""
    command = command or f"{config.APP_VENV}/bin/gunicorn -c /srv/app/gunicorn.conf.py schoolsite.wsgi:application"
    if environment is None:
        environment = {"DJANGO_SETTINGS_MODULE": settings_module(spec), "PYTHONUNBUFFERED": "1"}
    env = ",".join(f'{k}="{v}"' for k, v in environment.items())
    return textwrap.dedent(f'''\
        [program:schoolsite]
        command={command}
        directory=/srv/app
        user={config.APP_USER}
        environment={env}
        autostart=true
        autorestart=true
        startsecs=2
        stopasgroup=true
        killasgroup=true
        redirect_stderr=true
        stdout_logfile=/var/log/supervisor/schoolsite.log
        stdout_logfile_maxbytes=20MB
        ''')


SUPERVISORD_CONF = '''\
[unix_http_server]
file=/run/supervisor.sock
chmod=0700

[supervisord]
logfile=/var/log/supervisor/supervisord.log
pidfile=/run/supervisord.pid
childlogdir=/var/log/supervisor

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///run/supervisor.sock

[include]
files = /etc/supervisor/conf.d/*.conf
'''


def app_tree(spec: HostSpec, password: str) -> dict[str, str]:
    """Every file of /srv/app for this host, path relative to /srv/app -> text."""
    files: dict[str, str] = {}
    for path in sorted(PROJECT_TEMPLATE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(PROJECT_TEMPLATE).as_posix()] = path.read_text()
    files["gunicorn.conf.py"] = BROKEN_GUNICORN_CONF
    files.update(_settings_files(spec, password))
    if spec.restart == "compose":
        files["docker-compose.yml"] = compose_file(spec)
    return files


def write_host_files(spec: HostSpec, password: str, tree: dict[str, str] | None = None,
                     program: str | None = None, keep: tuple[str, ...] = ()) -> None:
    """(Re)write the host's app tree and supervisor config into its directories: the broken state.
    `tree`/`program` replace the main lab's files (varied hosts); entries named in `keep` (an
    app-dir venv) survive."""
    app_dir = spec.dir / "srv" / "app"
    app_dir.mkdir(parents=True, exist_ok=True)
    for child in app_dir.iterdir():
        if child.name not in keep:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for rel, text in (tree if tree is not None else app_tree(spec, password)).items():
        target = app_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    sup = spec.dir / "etc-supervisor"
    (sup / "conf.d").mkdir(parents=True, exist_ok=True)
    for stale in (sup / "conf.d").glob("*.conf"):
        stale.unlink()
    if spec.restart == "supervisor":
        (sup / "supervisord.conf").write_text(SUPERVISORD_CONF)
        (sup / "conf.d" / "schoolsite.conf").write_text(program or supervisor_program(spec))
