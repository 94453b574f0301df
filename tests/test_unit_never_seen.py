"""Pure rules the varied lab found (tests/test_variety.py proves them end to end on real hosts):
how the host's own view decides, read from fixtures and small trees."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent_payload import hostagent

from remediation import managers
from remediation.discovery import audit_files
from remediation.discovery.cmdline import config_argument
from remediation.discovery.model import AuditResult, Finding, FindingCode, Hints
from remediation.fleet.survey import static_values
from remediation.model import Target
from remediation.plan.decide import host_target, live_kind

def load_agent():
    return hostagent  # the assembled payload, as a host runs it


@pytest.mark.parametrize("argv,expected", [
    (["-c", "x.py", "app"], "x.py"), (["-cfoo"], "foo"), (["--config=a"], "a"), (["--conf", "b"], "b"),
    (["app"], None), (["-c", "a", "-c", "python:m.x"], "python:m.x"), (["-k", "gevent", "-c", "z"], "z"),
])
def test_the_config_gunicorn_takes_from_its_arguments(argv, expected):
    assert config_argument(argv) == expected


def test_a_healthy_worker_keeps_its_sizing_and_old_django_gets_no_health_checks():
    target = Target()
    sync = {"worker_class": "sync", "effective_worker_class": "gunicorn.workers.sync.SyncWorker",
            "workers": 3, "threads": 1, "worker_connections": 1000}
    kept = host_target(sync, {"django": "4.2.30"}, target)
    assert (kept.worker_class, kept.workers, kept.threads, kept.conn_max_age) == ("sync", 3, 1, 600)
    assert kept.conn_health_checks is True
    gevent = {"worker_class": "gevent", "effective_worker_class": "gunicorn.workers.ggevent.GeventWorker",
              "workers": 2, "threads": 16}
    switched = host_target(gevent, {"django": "3.2.25"}, target)
    assert (switched.worker_class, switched.workers, switched.threads) == ("gthread", 2, 8)
    assert switched.conn_health_checks is False  # Django 3.2 has no CONN_HEALTH_CHECKS


def test_sync_with_threads_runs_as_gthread():
    view = {"worker_class": "sync", "effective_worker_class": "gunicorn.workers.gthread.ThreadWorker", "threads": 4}
    assert live_kind(view) == "gthread"
    assert live_kind({"worker_class": "uvicorn_worker.UvicornWorker"}) == "asgi"
    assert live_kind({}) is None


def finding(setting, current, action, reason, code=None):
    """A literal place carries its value; one read from a variable has none (as places.py builds them)."""
    value = None if current.startswith("$") else current.strip("'\"")
    return Finding("f.py", 1, setting, current, None, action, reason, value=value, code=code)


def test_a_static_view_never_shows_a_confident_wrong_value():
    result = AuditResult([
        finding("worker_class", "'sync'", "ok", "dead: overridden by the command line; not changed", FindingCode.DEAD),
        finding("worker_class", "gthread", "ok", "gthread worker reuses DB connections; kept"),
        finding("workers", "$WEB_CONCURRENCY, default 2", "patch", "env default"),
        finding("threads", "4", "report", "cannot be read for certain"),
        finding("CONN_MAX_AGE", "uvicorn_worker.UvicornWorker", "report", "ASGI; its worker settings are kept",
                FindingCode.KEPT_CLASS),
    ])
    values = static_values(result)
    assert values["worker_class"] == "gthread"  # the dead place does not win
    assert values["workers"].startswith("unknown") and values["threads"].startswith("unknown")
    assert values["CONN_MAX_AGE"] == "uvicorn_worker.UvicornWorker"  # certain, only not patched
    assert values["CONN_HEALTH_CHECKS"] is None  # nothing sets it: the default


SUPERVISOR = """[program:web]
command=/srv/venv/bin/gunicorn -c /srv/app/gunicorn.conf.py -k gevent app.wsgi:application
directory=/srv/app
environment=DJANGO_SETTINGS_MODULE="app.settings"
"""
CONFIG = "bind = '0.0.0.0:8000'\nworkers = 2\nthreads = 16\n"
SETTINGS = "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'x', 'CONN_MAX_AGE': 600}}\n"


def test_the_restarted_command_is_the_patched_manager_file():
    """`-k gevent` on supervisor's command line over a config: the file holds the live command, so
    the re-audit and check-config use the patched line, not the one `ps` shows now."""
    files = {"etc/supervisor/conf.d/web.conf": SUPERVISOR, "srv/app/gunicorn.conf.py": CONFIG,
             "srv/app/app/settings.py": SETTINGS}
    live = "/srv/venv/bin/python3 /srv/venv/bin/gunicorn -c /srv/app/gunicorn.conf.py -k gevent app.wsgi:application"
    result = audit_files(files, Target(), Hints(command=live, cwd="srv/app", config_path="srv/app/gunicorn.conf.py",
                                                settings_module="app.settings"))
    assert "etc/supervisor/conf.d/web.conf" in result.patched
    assert result.restarted_command and "-k gthread" in result.restarted_command


def test_a_patched_manager_environment_is_the_restarted_environment():
    files = {"etc/supervisor/conf.d/web.conf": SUPERVISOR.replace(" -k gevent", "").replace(
                 'environment=DJANGO_SETTINGS_MODULE="app.settings"',
                 'environment=DJANGO_SETTINGS_MODULE="app.settings",APP_WORKER="gevent"'),
             "srv/app/gunicorn.conf.py": "import os\nworker_class = os.environ.get('APP_WORKER', 'sync')\n" + CONFIG,
             "srv/app/app/settings.py": SETTINGS}
    live = "/srv/venv/bin/python3 /srv/venv/bin/gunicorn -c /srv/app/gunicorn.conf.py app.wsgi:application"
    result = audit_files(files, Target(), Hints(command=live, cwd="srv/app", config_path="srv/app/gunicorn.conf.py",
                                                settings_module="app.settings",
                                                env={"DJANGO_SETTINGS_MODULE": "app.settings"}))  # as the agent filters it
    assert result.restarted_env == {"APP_WORKER": "gthread"}, (result.restarted_env, result.findings)


def test_a_container_the_engine_does_not_know_keeps_its_paths_unmapped():
    method = managers.detect({"pid": 10, "container": "", "ancestors": []}, {})
    assert method.kind == "docker" and method.container == ""
    assert managers.of(method).restart_argvs is not None
    with pytest.raises(Exception, match="restart it by hand"):
        managers.of(method).restart_argvs(method, [])


def test_db_endpoints_are_spelled_as_the_kernel_tables_spell_them():
    agent = load_agent()
    assert agent.tcp_endpoint("10.77.0.1", 6432) == {"01004D0A:1920"}
    assert agent.tcp_endpoint("::1", 5432) == {"00000000000000000000000001000000:1538"}


def test_the_watch_counts_a_workers_new_connections_to_the_endpoint():
    """A real listener and a real child process: the child's new connection is seen, a socket of
    the parent (the master) is not. The child is forked before the parent's socket exists (a fork
    copies every descriptor until exec closes them)."""
    import os
    import time

    agent = load_agent()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: [server.accept() for _ in range(2)], daemon=True).start()
    code = ("import socket,sys,time; sys.stdin.readline(); s=socket.create_connection(('127.0.0.1', %d)); "
            "sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(3)" % port)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    mine = socket.create_connection(("127.0.0.1", port))  # the master's own socket: not a worker's
    try:
        reply = agent.op_tcp_watch({"action": "start", "id": "t", "master": os.getpid(),
                                    "endpoints": [{"host": "127.0.0.1", "port": port}], "interval_ms": 10})
        assert reply.get("ok"), reply
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "up"
        time.sleep(0.2)
        result = agent.op_tcp_watch({"action": "stop", "id": "t"})
    finally:
        child.kill()
        mine.close()
        server.close()
    assert result["new"] == 1 and result["samples"] > 1, result


def test_a_patched_gunicorn_cmd_args_over_a_config_file_is_what_the_restart_runs():
    """GUNICORN_CMD_ARGS in supervisor's `environment=` decides the class over a `-c` config that
    sets the threads (found by the live-fleet lab): the re-audit must read the patched variable,
    not the live process's old one, or every patch looks unapplied."""
    files = {"etc/supervisor/conf.d/web.conf": SUPERVISOR.replace(" -k gevent", "").replace(
                 'environment=DJANGO_SETTINGS_MODULE="app.settings"',
                 'environment=DJANGO_SETTINGS_MODULE="app.settings",GUNICORN_CMD_ARGS="--worker-class gevent"'),
             "srv/app/gunicorn.conf.py": CONFIG, "srv/app/app/settings.py": SETTINGS}
    live = "/srv/venv/bin/python3 /srv/venv/bin/gunicorn -c /srv/app/gunicorn.conf.py app.wsgi:application"
    result = audit_files(files, Target(), Hints(command=live, cwd="srv/app", config_path="srv/app/gunicorn.conf.py",
                                                settings_module="app.settings",
                                                env={"DJANGO_SETTINGS_MODULE": "app.settings",
                                                     "GUNICORN_CMD_ARGS": "--worker-class gevent"}))
    assert {"etc/supervisor/conf.d/web.conf", "srv/app/gunicorn.conf.py"} <= set(result.patched), result.findings
    assert "gthread" in result.restarted_env["GUNICORN_CMD_ARGS"]
    assert "threads = 8" in result.patched["srv/app/gunicorn.conf.py"]
