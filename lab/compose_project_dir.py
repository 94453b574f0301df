"""One compose host whose project directory is not its compose file's directory, beside a running
lab: `docker-compose -f /srv/app/deploy/docker-compose.yml --project-directory /srv/app up -d`.
Compose reads `.env` from the project directory (/srv/app/.env, which sets DB_CONN_MAX_AGE=0 for
the service's `DB_CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-0}`), not the `deploy/.env` beside the file
(a leftover that compose ignores for this project). Code mounted at /srv/app, the worker class in
the app's gunicorn config, the production settings read CONN_MAX_AGE from $DB_CONN_MAX_AGE.
"""
from __future__ import annotations

import shutil

from lab import databases, hosts, lab, network, variety_hosts
from lab.variety import make

INDEX = 47  # 10.77.0.246: beside lab/vendor_unit.py's host
COMPOSE = "deploy/docker-compose.yml"
VALUES = {"manager": "compose", "gunicorn_home": "image", "settings_from": "env", "worker_from": "config",
          "config_ref": "path", "container_path": "/srv/app", "container_code": "mounted", "cgroup": "engine-default",
          "database": "postgres", "driver": "psycopg3", "db_scope": "per-host", "versions": "django5.2-gunicorn27",
          "app": "own-url-silent", "settings_shape": "split", "start": "gevent"}


def spec():
    return make(INDEX, VALUES)


def files(s) -> dict[str, str]:
    """App-dir relative path -> text of the project's compose files."""
    text = variety_hosts.compose_file(s).replace(
        "    environment:\n", "    environment:\n      DB_CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-0}\n", 1)
    return {COMPOSE: text, ".env": "# read by compose from the project directory\nDB_CONN_MAX_AGE=0\n",
            "deploy/.env": "# an old copy: compose does not read it (the project directory is /srv/app)\n"
                           "DB_CONN_MAX_AGE=60\n"}


def host_vars(s) -> dict:
    """The inventory's vars for the host: the compose file where this project has it."""
    return {**variety_hosts.host_vars(s), "remediation_compose_file": f"/srv/app/{COMPOSE}"}


def up(s) -> None:
    hosts.exec_in(s, ["docker-compose", "-f", f"/srv/app/{COMPOSE}", "--project-directory", "/srv/app", "up", "-d"],
                  timeout=180)


def create(s) -> None:
    destroy(s)
    s.dir.mkdir(parents=True)
    network.create_host_network(s)
    hosts.start(s, variety_hosts.extra_mounts(s))
    pw = variety_hosts.password(s)
    variety_hosts.write_files(s, pw)
    app = s.dir / "srv" / "app"
    (app / "docker-compose.yml").unlink()
    for rel, text in files(s).items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    databases.ensure_host_database(s.database, s.db_name, s.db_user, pw)
    variety_hosts.migrate(s)
    lab.start_sshd(s)
    lab._start_app(s, up=up)
    variety_hosts.wait_serving(s)


def destroy(s) -> None:
    variety_hosts.destroy_host(s.netns)
    if s.dir.exists():
        shutil.rmtree(s.dir)


def compose_config(s) -> str:
    """docker-compose's own rendering of the service on the host (the oracle)."""
    return hosts.exec_in(s, ["docker-compose", "-f", f"/srv/app/{COMPOSE}", "--project-directory", "/srv/app",
                             "config"]).stdout
