"""The real-file hosts (lab/realfiles.py): one definition per public deployment file, and the
glue that writes them into a varied host.

Each `render` is our own rewrite of its source's shape (never a copy of its text): the same
manager features and defaults, the lab's app (schoolsite) in place of the project's, paths
adapted (the code at /srv/app, the rest where the source kept it, under /srv, /etc/default,
/etc/gunicorn or /etc/sysconfig), the bind at 0.0.0.0:8000 (the lab's judges reach it there),
credentials the lab's own. What was adapted is said in the definition's `why` or a comment.
"""
from __future__ import annotations

import json
import shlex
import shutil
from functools import cache
from pathlib import Path

from lab import appfiles, config, systemd_host, variety_hosts
from lab.realfiles import (APP_DIR, BIND, KEPT, MOUNTED, REMEDIATED, Files, RealHost, RealSpec,
                           Source, defaults, host_path)

HOSTS: dict[str, RealHost] = {}
WSGI = "schoolsite.wsgi:application"


def gh(repo: str, commit: str, path: str) -> Source:
    return Source(repo, path, f"https://github.com/{repo}/blob/{commit}/{path}")


def define(key: str, source: Source, values: dict[str, str], expect: str, why: str, sizing: tuple[int, int],
           provenance: dict[str, str] | None = None, needs: str = ""):
    """Register a host whose files `render(spec, password)` gives."""
    def register(render):
        HOSTS[key] = RealHost(key, source, defaults(**values), expect, why, render, sizing, provenance or {}, needs)
        return render
    return register


# -- helpers the renders share -----------------------------------------------------------------

def gunicorn(spec: RealSpec) -> str:
    return shlex.join(variety_hosts.gunicorn_argv0(spec))


def venv_bin(spec: RealSpec) -> str:
    """The bin dir of the venv that holds the host's gunicorn."""
    return str(Path(variety_hosts.gunicorn_argv0(spec)[0]).parent)


def dsm(spec: RealSpec) -> str:
    return variety_hosts.settings_module(spec)


def db_url(spec: RealSpec, password: str) -> str:
    scheme = appfiles.URL_SCHEMES[spec.database]
    return f"{scheme}://{spec.db_user}:{password}@{config.BRIDGE_ADDRESS}:{spec.db_proxy_port}/{spec.db_name}"


def db_env(spec: RealSpec, password: str, prefix: str = "SQL_") -> dict[str, str]:
    """The database as separate variables (the names the source's settings read)."""
    return {f"{prefix}ENGINE": appfiles.ENGINES[spec.database], f"{prefix}DATABASE": spec.db_name,
            f"{prefix}USER": spec.db_user, f"{prefix}PASSWORD": password, f"{prefix}HOST": config.BRIDGE_ADDRESS,
            f"{prefix}PORT": str(spec.db_proxy_port)}


def getenv_settings(spec: RealSpec, prefix: str = "SQL_", extra: str = "") -> str:
    """settings.py whose DATABASES entry reads each part from the environment with a default
    (the common `os.environ.get("SQL_ENGINE", "django.db.backends.sqlite3")` shape); no CONN_MAX_AGE."""
    common = appfiles.COMMON_SETTINGS.format(name=spec.name)
    pymysql = "import pymysql\n\npymysql.install_as_MySQLdb()\n" if spec.driver == "pymysql" else ""
    return (f"import os\n\n{pymysql}{common}\nDATABASES = {{\n    \"default\": {{\n"
            f'        "ENGINE": os.environ.get("{prefix}ENGINE", "django.db.backends.sqlite3"),\n'
            f'        "NAME": os.environ.get("{prefix}DATABASE", "db.sqlite3"),\n'
            f'        "USER": os.environ.get("{prefix}USER", "user"),\n'
            f'        "PASSWORD": os.environ.get("{prefix}PASSWORD", "password"),\n'
            f'        "HOST": os.environ.get("{prefix}HOST", "localhost"),\n'
            f'        "PORT": os.environ.get("{prefix}PORT", "5432"),\n'
            f"{extra}    }}\n}}\n")


def env_file(env: dict[str, str], header: str = "") -> str:
    return header + "".join(f"{k}={v}\n" for k, v in env.items())


def dockerfile(src: Source, workdir: str, extra: str = "", cmd: list[str] | None = None,
               entrypoint: str = "") -> str:
    """A Dockerfile that bakes the code in at `workdir` (FROM the lab's base image: it carries the
    venv, there is no package index here, so the source's pip install is a check)."""
    text = (src.header() + f"FROM {config.APP_IMAGE}\n\nENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n"
            f"WORKDIR {workdir}\n\nCOPY requirements.txt {workdir}/\n"
            'RUN /opt/venv/bin/python -c "import django, gunicorn"\n\n' + extra + f"COPY . {workdir}/\n")
    if entrypoint:
        text += f"\nRUN chmod +x {entrypoint}\nENTRYPOINT [{json.dumps(entrypoint)}]\n"
    if cmd:
        text += f"\nCMD {json.dumps(cmd)}\n"
    return text


def db_wait(host: str, port: str, indent: str = "    ") -> str:
    """The sources' `while ! nc -z HOST PORT; do sleep 0.1; done` (the lab image has no netcat)."""
    probe = ('/opt/venv/bin/python -c "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)"'
             f' "{host}" "{port}" 2>/dev/null')
    return f"{indent}while ! {probe}; do\n{indent}  sleep 0.1\n{indent}done\n"


# -- supervisor ---------------------------------------------------------------------------------

@define("ansible-django-stack", gh("jcalazan/ansible-django-stack", "0adba36a4cb6ce5c4ba88e478a065f95a4629bbd",
                                   "roles/web/templates/supervisor_config.j2"),
        {"manager": "supervisor", "gunicorn_home": "app-venv", "settings_from": "env", "worker_from": "-k",
         "database": "postgres", "driver": "psycopg2", "versions": "django4.2-gunicorn22", "start": "sync"},
        KEPT, "a sync app already reuses connections once CONN_MAX_AGE > 0: only connection settings change",
        (3, 1))
def _ansible_django_stack(spec: RealSpec, password: str) -> Files:
    """command= is the gunicorn_start wrapper (NUM_WORKERS in a shell variable, the settings module
    exported by the virtualenv's postactivate, `exec gunicorn` over continued lines), redirect_stderr
    into an explicit stdout_logfile; /webapps/<app> adapted to /srv/webapps/schoolsite."""
    home = "/srv/webapps/schoolsite"
    src = HOSTS["ansible-django-stack"].source
    program = (src.header(";") + "[program:schoolsite]\n"
               f"command = {home}/bin/gunicorn_start\nuser = {config.APP_USER}\n"
               f"stdout_logfile = {home}/logs/gunicorn_supervisor.log\nredirect_stderr = true\n"
               "autostart=true\nautorestart=true\n")
    wrapper = ("#!/bin/sh\n" + src.header() + "\nNAME=\"schoolsite\"\nDJANGODIR=/srv/app\n"
               f"SOCKFILE={home}/run/gunicorn.sock\nUSER={config.APP_USER}\nGROUP={config.APP_USER}\n"
               "NUM_WORKERS=3\nMAX_REQUESTS=1000\n\necho \"Starting $NAME as `whoami`\"\n\n"
               f"cd $DJANGODIR\n. /srv/app/.venv/bin/activate\n. {home}/bin/postactivate\n\n"
               "RUNDIR=$(dirname $SOCKFILE)\ntest -d $RUNDIR || mkdir -p $RUNDIR\n\n"
               "exec gunicorn \\\n  --name $NAME \\\n  --workers $NUM_WORKERS \\\n  --max-requests $MAX_REQUESTS \\\n"
               "  --timeout 30 \\\n  --user $USER --group $GROUP \\\n  --log-level debug \\\n"
               f"  --bind {BIND} \\\n  {WSGI}\n")
    postactivate = (f"#!/bin/sh\n{src.header()}export DJANGO_SETTINGS_MODULE={dsm(spec)}\n"
                    "export DJANGO_SECRET_KEY=lab-only-secret\n")
    return Files(host={"/etc/supervisor/conf.d/schoolsite.conf": program, f"{home}/bin/gunicorn_start": wrapper,
                       f"{home}/bin/postactivate": postactivate, f"{home}/logs/.keep": ""},
                 program="schoolsite")


@define("commcare-cloud", gh("dimagi/commcare-cloud", "01b369cbf414f145c213f450acd523aa4aca9399",
                             "src/commcare_cloud/ansible/roles/commcarehq/templates/supervisor_django.conf.j2"),
        {"manager": "supervisor", "gunicorn_home": "other-venv", "settings_from": "env", "worker_from": "-k",
         "config_ref": "path", "database": "postgres", "driver": "psycopg2", "versions": "django4.2-gunicorn22",
         "start": "gevent"},
        REMEDIATED, "a gevent worker defeats persistent connections: switch to gthread (the CLI -k wins over "
        "the config file's worker_class, so the program's command line is where it is set)", (3, 1),
        provenance={"worker_class": "/etc/supervisor/conf.d/commcare-hq-production-django.conf"})
def _commcare(spec: RealSpec, password: str) -> Files:
    """command= continued over indented lines, -k gevent on it and worker_class = 'gevent' in the -c
    file (relative to directory=), preload_app with a post_fork hook, environment= with quoted values
    and a trailing comma, commented-out stop settings, --log-file beside supervisor's own log."""
    src = HOSTS["commcare-cloud"].source
    log = "/srv/www/production/log"
    program = (src.header(";") + "[program:commcare-hq-production-django]\n"
               f"directory={APP_DIR}/\n; gunicorn\n"
               f"environment=DJANGO_SETTINGS_MODULE=\"{dsm(spec)}\",PYTHONUNBUFFERED=\"1\",\n"
               f"command={gunicorn(spec)}\n    {WSGI}\n    -c conf/gunicorn_conf.py\n    -k gevent\n"
               f"    --workers 3\n    --bind {BIND}\n    --log-file {log}/commcare-hq.gunicorn.log\n"
               "    --log-level debug\n    --statsd-host localhost:8125\n    --pid /srv/services/gunicorn.pid\n"
               f"user={config.APP_USER}\nautostart=true\nautorestart=true\n"
               f"stdout_logfile={log}/django.log\nredirect_stderr=true\nstderr_logfile={log}/django.error.log\n"
               ";stopsignal=QUIT\n;stopwaitsecs=60\n;killasgroup=true\n;stopasgroup=false\n")
    conf = (src.header() + "preload_app = True\nworker_class = 'gevent'\nkeepalive = 60\ntimeout = 900\n"
            "max_requests = 240\nmax_requests_jitter = int(max_requests * 0.5)\ngraceful_timeout = 5 * 60\n\n\n"
            "def post_fork(server, worker):\n    # hit the url resolver once in the worker, as the source does\n"
            "    from django.urls import resolve\n    resolve('/')\n")
    return Files(app={"conf/__init__.py": "", "conf/gunicorn_conf.py": conf},
                 host={"/etc/supervisor/conf.d/commcare-hq-production-django.conf": program,
                       f"{log}/.keep": "", "/srv/services/.keep": ""},
                 program="commcare-hq-production-django")


@define("pretix-supervisor", gh("pretix/pretix", "25c35b0f73a12ede9af99e5fe2f4702da30dddcb",
                                "deployment/docker/supervisord/pretixweb.conf"),
        {"manager": "supervisor", "gunicorn_home": "other-venv", "settings_from": "env", "worker_from": "-k",
         "database": "postgres", "driver": "psycopg3", "start": "sync"},
        KEPT, "a sync app: only connection settings may change; its logs go to supervisord's own fd 1/2, "
        "which nothing can read here (no verdict may need them)", (4, 1))
def _pretix(spec: RealSpec, password: str) -> Files:
    """command= is a dispatcher script's subcommand (`pretix webworker`): the script exports the
    settings module, computes the workers from nproc, migrates, and execs gunicorn in an if-branch;
    logs to /dev/fd/1 and /dev/fd/2 with maxbytes 0. /usr/local/bin/pretix adapted to /srv/pretix/bin."""
    src = HOSTS["pretix-supervisor"].source
    program = (src.header(";") + "[program:pretixweb]\ncommand=/srv/pretix/bin/pretix webworker\n"
               f"user={config.APP_USER}\nenvironment=HOME=/srv/pretix\npriority=5\nautostart=true\n"
               "autorestart=true\nstdout_logfile=/dev/fd/1\nstdout_logfile_maxbytes=0\n"
               "stderr_logfile=/dev/fd/2\nstderr_logfile_maxbytes=0\n")
    script = ("#!/bin/bash\n" + src.header() + "cd /srv/app\n"
              f"export DJANGO_SETTINGS_MODULE={dsm(spec)}\nexport DATA_DIR=/srv/pretix/data/\n"
              "export HOME=/srv/pretix\nexport NUM_WORKERS=$((2 * $(nproc --all)))\n\n"
              f"{venv_bin(spec)}/python manage.py migrate --noinput -v 0\n\n"
              'if [ "$1" == "webworker" ]; then\n'
              f"    exec {gunicorn(spec)} {WSGI.split(':')[0]} \\\n        --name pretix \\\n"
              "        --workers $NUM_WORKERS \\\n        --max-requests 1200 \\\n        --max-requests-jitter 50 \\\n"
              f"        --log-level=info \\\n        --bind={BIND}\nfi\n\necho \"Specify argument: webworker\"\nexit 1\n")
    return Files(host={"/etc/supervisor/conf.d/pretixweb.conf": program, "/srv/pretix/bin/pretix": script,
                       "/srv/pretix/data/.keep": ""}, program="pretixweb")


# -- systemd -------------------------------------------------------------------------------------

@define("netbox-template", gh("netbox-community/netbox", "90aafb84f0ddcdd6372fadf618ec871c612e87a2",
                              "contrib/netbox@.service"),
        {"manager": "systemd", "gunicorn_home": "other-venv", "settings_from": "wsgi-setdefault",
         "worker_from": "config", "config_ref": "path", "database": "postgres", "driver": "psycopg3",
         "start": "gthread"},
        KEPT, "threads = 3 without a worker_class runs gthread: only connection settings may change", (3, 3),
        provenance={"threads": "/srv/netbox/gunicorn.conf"})
def _netbox_template(spec: RealSpec, password: str) -> Files:
    """A template unit's instance whose non-optional EnvironmentFile (/etc/sysconfig/netbox.%i.env,
    with a `Name = 'Netbox'` line) gives ${ConfigPath} for `--config` (a Python file named .conf,
    outside the app dir) and ${WorkingDirectory} for `--pythonpath`; journal-only logging besides
    the config's errorlog. The source's `WorkingDirectory=${WorkingDirectory}` and
    `PIDFile=${PidPath}` are no valid systemd (no expansion there): the literal dir instead."""
    src = HOSTS["netbox-template"].source
    unit = (src.header() + "[Unit]\nDescription=Netbox WSGI\nAfter=network-online.target\n"
            "Wants=network-online.target\n\n[Service]\nType=simple\n\n"
            "EnvironmentFile=/etc/sysconfig/netbox.%i.env\n\n"
            f"User={config.APP_USER}\nGroup={config.APP_USER}\nWorkingDirectory={APP_DIR}\n\n"
            f"ExecStart={gunicorn(spec)} --config ${{ConfigPath}} --pythonpath ${{WorkingDirectory}} "
            f"{WSGI.split(':')[0]}\n\nRestart=on-failure\nRestartSec=30\nPrivateTmp=true\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
    env = (src.header() + "# Name is the Process Name\n#\nName = 'Netbox'\n\n"
           "# ConfigPath is the path to the gunicorn config file.\n#\nConfigPath=/srv/netbox/gunicorn.conf\n\n"
           f"# WorkingDirectory is the Working Directory for Netbox.\n#\nWorkingDirectory={APP_DIR}/\n\n"
           "# PidPath is the path to the pid for the netbox WSGI\n#\nPidPath=/srv/netbox/netbox.pid\n")
    conf = (src.header() + f"# Bind is the ip and port that the WSGI should bind to\n#\nbind='{BIND}'\n\n"
            "# Workers should be: cores * 2 + 1.\n#\nworkers=3\n\n# Threads\n#\nthreads=3\n\n"
            "# Timeout\n#\ntimeout=120\n\n# ErrorLog\n#\nerrorlog='/srv/netbox/netbox.log'\n")
    return Files(host={"/etc/systemd/system/netbox@.service": unit, "/etc/sysconfig/netbox.schoolsite.env": env,
                       "/srv/netbox/gunicorn.conf": conf},
                 unit="netbox@schoolsite.service")


# -- compose -------------------------------------------------------------------------------------

@define("django-on-docker", gh("testdrivenio/django-on-docker", "26be9cd5f891734425e4fe754d6340b92180b471",
                               "docker-compose.prod.yml"),
        {"manager": "compose", "settings_from": "wsgi-setdefault", "worker_from": "-k", "database": "postgres",
         "driver": "psycopg3", "container_path": "/home/app/web", "start": "sync"},
        KEPT, "a sync app: CONN_MAX_AGE (absent, so 0) is inserted in the settings the image is built from",
        (1, 1), provenance={"CONN_MAX_AGE": "/srv/app/schoolsite/settings.py"})
def _django_on_docker(spec: RealSpec, password: str) -> Files:
    """build: a Dockerfile.prod that COPYs the code to /home/app/web (no mount of the code),
    an exec-form ENTRYPOINT that waits for the database and execs "$@", the command a string,
    env_file .env.prod with SQL_* read by os.environ.get in settings; one default sync worker.
    The source's context ./app adapted to the app dir itself (the lab's compose file is /srv/app's)."""
    src = HOSTS["django-on-docker"].source
    home = spec.container_path
    compose = (src.header() + "version: '3.8'\n\nservices:\n  web:\n    build:\n      context: .\n"
               "      dockerfile: Dockerfile.prod\n"
               f"    command: gunicorn {WSGI} --bind {BIND}\n    network_mode: host\n"
               "    env_file:\n      - ./.env.prod\n")
    entry = ("#!/bin/sh\n" + src.header() + '\nif [ "$DATABASE" = "postgres" ]\nthen\n'
             '    echo "Waiting for postgres..."\n\n' + db_wait("$SQL_HOST", "$SQL_PORT")
             + '\n    echo "PostgreSQL started"\nfi\n\nexec "$@"\n')
    env = env_file({"DEBUG": "0", "SECRET_KEY": "lab-only-secret", "DJANGO_ALLOWED_HOSTS": "*",
                    **db_env(spec, password), "DATABASE": "postgres"}, src.header())
    return Files(app={"docker-compose.yml": compose, "Dockerfile.prod": dockerfile(src, home, entrypoint=f"{home}/entrypoint.prod.sh"),
                      "entrypoint.prod.sh": entry, ".env.prod": env, ".dockerignore": ".venv\n**/__pycache__\n",
                      "schoolsite/settings.py": getenv_settings(spec)},
                 env=db_env(spec, password))


# -- the glue ------------------------------------------------------------------------------------

def specs() -> list[RealSpec]:
    """Every definition as a host (real1, ...), in definition order."""
    return [RealSpec(i, restart=variety_hosts_restart(host.values["manager"]), real=key, **host.values)
            for i, (key, host) in enumerate(HOSTS.items(), 1)]


def variety_hosts_restart(manager: str) -> str:
    from lab.variety import restart_of

    return restart_of(manager)


@cache
def _names(key: str) -> Files:
    spec = RealSpec(1, restart=variety_hosts_restart(HOSTS[key].values["manager"]), real=key, **HOSTS[key].values)
    return HOSTS[key].render(spec, "")


def files_of(spec: RealSpec) -> Files:
    """The host's file names and units (not its texts: those need the password)."""
    return _names(spec.real)


def mounts_of(spec: RealSpec) -> list[tuple[str, str]]:
    out = []
    for local, target in MOUNTED.items():
        if any(p.startswith(target + "/") for p in files_of(spec).host):
            (spec.dir / local).mkdir(parents=True, exist_ok=True)
            Path(target).mkdir(exist_ok=True)  # the mount point (an empty dir on the machine)
            out.append((str(spec.dir / local), target))
    return out


def migrate_env(spec: RealSpec, password: str) -> dict[str, str]:
    """What the app's settings need at migrate time that only its manager's files give it."""
    return HOSTS[spec.real].render(spec, password).env


def inventory_vars(spec: RealSpec) -> dict:
    """What a user states for such a host: the program or the compose service by the source's name."""
    names = files_of(spec)
    out: dict = {"remediation_source": HOSTS[spec.real].source.url}
    if spec.restart == "supervisor":
        out["remediation_supervisor_program"] = names.program.split(":")[-1]
    elif spec.restart == "compose":
        out["remediation_compose_service"] = names.service
    return out


def _clear(spec: RealSpec) -> None:
    """Remove what a previous write left outside the app dir (a reset writes everything anew)."""
    srv = spec.dir / "srv"
    for child in srv.iterdir() if srv.exists() else ():
        if child.name not in ("app", "requirements.txt"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for local in MOUNTED:
        for child in (spec.dir / local).iterdir() if (spec.dir / local).exists() else ():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    units = spec.dir / systemd_host.UNIT_DIR
    for child in units.iterdir() if units.exists() else ():
        if child.is_symlink() and str(child.readlink()) == "/dev/null":
            continue  # systemd_host's masks
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def write(spec: RealSpec, password: str) -> None:
    """The host's files in their starting state: the varied app tree with the source's files."""
    files = HOSTS[spec.real].render(spec, password)
    tree = variety_hosts.app_tree(spec, password)
    for stale in ("docker-compose.yml", "docker/Dockerfile", ".dockerignore"):
        tree.pop(stale, None)
    tree.update(files.app)
    _clear(spec)
    appfiles.write_host_files(spec, password, tree=tree, program="; replaced below\n", keep=(".venv",))
    (spec.dir / "etc-supervisor" / "conf.d" / "schoolsite.conf").unlink(missing_ok=True)
    for path, text in files.host.items():
        target = host_path(spec.dir, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if text.startswith("#!"):
            target.chmod(0o755)
        if path.startswith("/srv/"):
            for parent in [target.parent, *target.parent.parents]:
                if parent == spec.dir / "srv":
                    break
                shutil.chown(parent, config.APP_USER, config.APP_USER)  # the source's user writes its logs there
    for rel in files.app:
        if files.app[rel].startswith("#!"):
            (spec.dir / "srv" / "app" / rel).chmod(0o755)
    if spec.restart == "systemd":
        wants = spec.dir / systemd_host.UNIT_DIR / "multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        template = files.unit.split("@")[0] + "@.service" if "@" in files.unit else files.unit
        (wants / files.unit).symlink_to(f"/etc/systemd/system/{template}")
