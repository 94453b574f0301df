"""A shell `-c` string in a manager's command is itself a command line (#23): its `$VAR` /
`${VAR}` read from the environment the manager gives the shell, the gunicorn inside it matched
to the live command and patched at its own span. Modelled on Mayan EDMS' supervisord_docker.tmpl
(real-file host real5): `bash -c "${MAYAN_GUNICORN_BIN} -w ${MAYAN_GUNICORN_WORKERS} ...
--worker-class gevent ..."` with the variables in the program's environment=."""
from __future__ import annotations

import configparser
import shlex

from remediation.discovery import Hints, audit_files
from remediation.discovery.sources.supervisor import locate_supervisor
from remediation.model import Target

CONF = "etc/supervisor/conf.d/mayan-gunicorn.conf"
PROGRAM = ("[program:mayan-gunicorn]\ndirectory = /srv/app\n"
           'command = /bin/bash -c "${MAYAN_GUNICORN_BIN} -w ${MAYAN_GUNICORN_WORKERS} schoolsite.wsgi '
           "--max-requests 500 --worker-class gevent --bind 0.0.0.0:8000 "
           '--env DJANGO_SETTINGS_MODULE=${MAYAN_SETTINGS_MODULE}" --timeout ${MAYAN_GUNICORN_TIMEOUT}\n')
ENVIRONMENT = ('environment=MAYAN_GUNICORN_BIN="/opt/venv/bin/gunicorn",MAYAN_GUNICORN_WORKERS="2",'
               'MAYAN_SETTINGS_MODULE="schoolsite.settings",MAYAN_GUNICORN_TIMEOUT="120"\n')
SETTINGS = 'DATABASES = {"default": {"ENGINE": "django.db.backends.mysql", "NAME": "app"}}\n'
LIVE = ("/opt/venv/bin/python3 /opt/venv/bin/gunicorn -w 2 schoolsite.wsgi --max-requests 500 --worker-class gevent "
        "--bind 0.0.0.0:8000 --env DJANGO_SETTINGS_MODULE=schoolsite.settings")


def hints() -> Hints:
    return Hints(command=LIVE, cwd="srv/app", settings_module="schoolsite.settings",
                 env={"MAYAN_GUNICORN_BIN": "/opt/venv/bin/gunicorn"})


def command_of(text: str) -> list[str]:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return shlex.split(parser["program:mayan-gunicorn"]["command"])


def test_the_string_is_read_with_the_programs_environment():
    (inv,) = locate_supervisor(CONF, PROGRAM + ENVIRONMENT).invocations
    assert inv.exe.value == "/opt/venv/bin/gunicorn"
    assert inv.args.values() == {"workers": "2", "worker_class": "gevent"}
    assert inv.args.env_pairs() == {"DJANGO_SETTINGS_MODULE": "schoolsite.settings"}
    workers = inv.args.words[inv.args.last("workers").value_index]
    start, end = workers.span()
    assert (PROGRAM + ENVIRONMENT)[start - len("MAYAN_GUNICORN_WORKERS=\""):end] == 'MAYAN_GUNICORN_WORKERS="2'


def test_the_worker_class_changes_inside_the_string_and_nothing_else_does():
    text = PROGRAM + ENVIRONMENT
    result = audit_files({CONF: text, "srv/app/schoolsite/settings.py": SETTINGS, "srv/app/schoolsite/__init__.py": ""},
                         Target(), hints())
    worker = [f for f in result.findings if f.setting == "worker_class" and f.action == "patch"]
    assert [(f.file, f.current, f.proposed) for f in worker] == [(CONF, "gevent", "gthread")]
    patched = result.patched[CONF]
    before, after = command_of(text), command_of(patched)
    assert before[:2] == after[:2] == ["/bin/bash", "-c"] and after[3:] == before[3:]  # --timeout ${...} untouched
    inner = shlex.split(after[2])
    assert inner[inner.index("--worker-class") + 1] == "gthread"
    assert "--threads" in inner and inner[0] == "${MAYAN_GUNICORN_BIN}"
    assert patched.endswith(ENVIRONMENT)  # the program's environment= is where it was
    assert "'CONN_MAX_AGE': 600" in result.patched["srv/app/schoolsite/settings.py"].replace('"', "'")


def test_a_program_the_environment_does_not_name_is_not_guessed():
    """Without environment= the shell's ${MAYAN_GUNICORN_BIN} comes from outside the file: no
    gunicorn is read in the string, and the live command line is not attributed to it."""
    assert locate_supervisor(CONF, PROGRAM).invocations == []
    result = audit_files({CONF: PROGRAM, "srv/app/schoolsite/settings.py": SETTINGS}, Target(), hints())
    assert CONF not in result.patched
    assert all(f.file != CONF for f in result.findings if f.setting == "worker_class")
