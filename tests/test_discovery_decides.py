"""Pure helpers: what decides a run-time value, and gevent classes inside template conditionals."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.discovery.decides import decided_by, setters, variables  # noqa: E402
from remediation.discovery.sources.jinja import mask  # noqa: E402
from remediation.discovery.template_branches import gevent_in_conditionals  # noqa: E402


def test_variables_of_a_word() -> None:
    assert variables("${gunicorn}") == ["gunicorn"]
    assert variables("/etc/$APP/${CFG:-x}.py") == ["APP", "CFG"]
    assert variables("/etc/gunicorn.py") == []


def test_setters_find_env_arg_yaml_and_shell_but_not_commands() -> None:
    texts = {
        "Dockerfile": "ARG gunicorn\nENV gunicorn ${gunicorn}\nCMD gunicorn -c ${gunicorn} app.wsgi\n",
        "docker-compose.yml": "services:\n  web:\n    build:\n      args:\n        gunicorn: /srv/g.py\n",
        "run.sh": "gunicorn=/srv/g.py\nexec gunicorn -c $gunicorn app.wsgi\n",
    }
    assert setters(texts, "gunicorn") == ["Dockerfile:1", "Dockerfile:2", "docker-compose.yml:5", "run.sh:1"]


def test_decided_by_names_unset_variables() -> None:
    assert decided_by({"a": "x"}, "$CFG") == "; what decides it: $CFG is not set in the tree"
    assert decided_by({"a": "x"}, "/etc/g.py") == ""


def test_gevent_inside_a_conditional_is_found_outside_is_not() -> None:
    text = ("[program:web]\n{% if async %}\ncommand=gunicorn app.wsgi -k gevent\n{% else %}\n"
            "command=gunicorn app.wsgi\n{% endif %}\n# -k gevent in a comment\n")
    branches = gevent_in_conditionals(text, mask(text))
    assert [(b.name, text.count("\n", 0, b.offset) + 1) for b in branches] == [("gevent", 3)]
    plain = 'worker_class = "gevent"\n{% if x %}\nthreads = 4\n{% endif %}\n'
    assert gevent_in_conditionals(plain, mask(plain)) == []


def test_sync_and_custom_classes_in_conditionals_are_not_gevent() -> None:
    text = "{% if x %}\nworker_class = 'sync'\n{% endif %}\n{% if y %}\n-k uvicorn.workers.UvicornWorker\n{% endif %}\n"
    assert gevent_in_conditionals(text, mask(text)) == []
