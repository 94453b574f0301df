"""Bring varied hosts up (lab/variety.py draws them): files, Python stacks, databases, managers.

Varied hosts are real lab hosts (own network, pid and mount namespaces, sshd, the lab's
users and key) on the main bridge, beside the main fleet, under their own namespace prefix and
directory, with their own inventory file. Each one renders the Django project the way its draw
says: where gunicorn lives, where DJANGO_SETTINGS_MODULE comes from, what decides the worker
class, the config file's name, the manager, the path the container sees the code at, the
database (its own or the fleet's shared one) and driver, versions, and the app's URL.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import textwrap
import threading
import time
from pathlib import Path

import yaml

from lab import appfiles, config, databases, hosts, image, lab, network, systemd_host
from lab import inventory as lab_inventory
from lab.sh import LabError, run
from lab.variety import NETNS_PREFIX, ROOT, VETH_PREFIX, VarietySpec, as_json, describe, fleet, from_json

STACKS = Path(__file__).parent / "app" / "variety"
VENVS = config.CACHE_DIR / "variety-venvs"
SITES = config.CACHE_DIR / "variety-sites"  # `pip install --target` trees, mounted as the system's packages
SYSTEM_SITE = "/usr/local/lib/python3.11/dist-packages"  # on Debian's python3's path, empty on this machine
PG_DRIVERS = {"psycopg3": "psycopg[binary]==3.3.9", "psycopg2": "psycopg2-binary==2.9.13"}
STATE_FILE = ROOT / "variety.json"
KNOWN_HOSTS = ROOT / "known_hosts"
INVENTORY_PATH = ROOT / "inventory.yml"
SECRETS = ROOT / "secrets"
HEADER = "# Written by `invoke lab.up --variety`: the varied hosts, in Ansible's YAML inventory format.\n"
SILENT_PATH, LOGGED_PATH = "/v2/pupils/", config.VERIFY_PATH
WORKER_CLASS = {"gevent": "gevent", "eventlet": "eventlet", "sync": "sync", "gthread": "gthread"}
SIZING = {"gevent": (2, 16), "eventlet": (2, 16), "sync": (3, 1), "gthread": (2, 4), "asgi": (2, 1)}
_migrate_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


# -- the stack (Python packages) -------------------------------------------------------------

def stack_key(spec: VarietySpec) -> str:
    pg = spec.driver if spec.driver in PG_DRIVERS else ("psycopg2" if spec.django < (4, 2) else "psycopg3")
    return f"{spec.versions}-{pg}"


def requirements(key: str) -> str:
    versions, pg = key.rsplit("-", 1)
    return (STACKS / f"{versions}.txt").read_text() + PG_DRIVERS[pg] + "\n"


def _wheels(key: str) -> Path:
    stamp = config.WHEELS_DIR / f".variety-{key}"
    text = requirements(key)
    if not (stamp.exists() and stamp.read_text() == text):
        image.ensure_wheels()  # the builder venv and the main stack's wheels
        req = config.CACHE_DIR / f"variety-{key}.txt"
        req.write_text(text)
        run([config.CACHE_DIR / "wheel-builder" / "bin" / "pip", "wheel", "-q", "-w", config.WHEELS_DIR, "-r", req],
            timeout=900)
        stamp.write_text(text)
    return config.WHEELS_DIR


def shared_venv(key: str) -> Path:
    """A venv outside any app dir (one per stack), as many fleets keep gunicorn."""
    venv, text = VENVS / key, requirements(key)
    stamp = venv / ".requirements"
    if not (stamp.exists() and stamp.read_text() == text):
        wheels = _wheels(key)
        shutil.rmtree(venv, ignore_errors=True)
        run([image.SYSTEM_PYTHON, "-m", "venv", venv])
        req = venv / "requirements.txt"
        req.write_text(text)
        run([venv / "bin" / "pip", "install", "-q", "--no-index", "-f", wheels, "-r", req], timeout=900)
        stamp.write_text(text)
    return venv


def system_site(key: str) -> Path:
    """The stack as the system's own packages (`pip install --target`), for /usr/bin/python3."""
    site, text = SITES / key, requirements(key)
    stamp = SITES / f".{key}"
    if not (stamp.exists() and stamp.read_text() == text):
        wheels = _wheels(key)
        shutil.rmtree(site, ignore_errors=True)
        req = config.CACHE_DIR / f"variety-{key}.txt"
        req.write_text(text)
        run([config.CACHE_DIR / "wheel-builder" / "bin" / "pip", "install", "-q", "--no-index", "-f", wheels,
             "--target", site, "-r", req], timeout=900)
        stamp.write_text(text)
    return site


def app_venv_inside(spec: VarietySpec) -> None:
    """A venv in the app dir (/srv/app/.venv), made inside the host so its paths are the host's."""
    venv = spec.dir / "srv" / "app" / ".venv"
    stamp = venv / ".requirements"
    text = requirements(stack_key(spec))
    if stamp.exists() and stamp.read_text() == text:
        return
    wheels = _wheels(stack_key(spec))
    shutil.rmtree(venv, ignore_errors=True)
    hosts.exec_in(spec, [image.SYSTEM_PYTHON, "-m", "venv", "/srv/app/.venv"], timeout=120)
    req = spec.dir / "srv" / "requirements.txt"
    req.write_text(text)
    hosts.exec_in(spec, ["/srv/app/.venv/bin/pip", "install", "-q", "--no-index", "-f", str(wheels), "-r",
                         "/srv/requirements.txt"], timeout=900)
    stamp.write_text(text)


def python_of(spec: VarietySpec) -> str:
    """The interpreter that runs the host's app, as the host sees it."""
    return {"app-venv": "/srv/app/.venv/bin/python", "other-venv": str(VENVS / stack_key(spec) / "bin" / "python"),
            "system": image.SYSTEM_PYTHON, "image": "/opt/venv/bin/python"}[spec.gunicorn_home]


def gunicorn_argv0(spec: VarietySpec) -> list[str]:
    return {"app-venv": ["/srv/app/.venv/bin/gunicorn"],
            "other-venv": [str(VENVS / stack_key(spec) / "bin" / "gunicorn")],
            "system": [image.SYSTEM_PYTHON, "-m", "gunicorn"], "image": ["/opt/venv/bin/gunicorn"]}[spec.gunicorn_home]


# -- the files -------------------------------------------------------------------------------

def settings_module(spec: VarietySpec) -> str:
    if spec.settings_from == "settings-init":
        return "schoolsite.settings"  # the package: its __init__ picks the module by DJANGO_ENV
    return appfiles.settings_module(spec)


def worker_class(spec: VarietySpec) -> str:
    if spec.start == "asgi":
        return "uvicorn.workers.UvicornWorker" if spec.django < (4, 2) else "uvicorn_worker.UvicornWorker"
    return WORKER_CLASS[spec.start]


def gunicorn_config(spec: VarietySpec) -> str:
    workers, threads = SIZING[spec.start]
    lines = [f"# gunicorn configuration for schoolsite ({spec.name}: worker class from {spec.worker_from})"]
    if spec.worker_from == "config-env":
        lines += ["import os", "", 'worker_class = os.environ.get("APP_WORKER_CLASS", "sync")']
    elif spec.worker_from == "config":
        lines.append(f"worker_class = {worker_class(spec)!r}")
    elif spec.worker_from == "cli-over-config":
        lines.append(f"worker_class = {'gthread' if spec.start == 'sync' else 'sync'!r}  # the command line overrides this")
    lines += ['bind = "0.0.0.0:8000"', f"workers = {workers}", f"threads = {threads}", "worker_connections = 1000",
              "timeout = 30", 'accesslog = "-"', 'loglevel = "info"']
    return "\n".join(lines) + "\n"


def config_path(spec: VarietySpec) -> str | None:
    """Where the gunicorn config lives in the app dir (relative), or None."""
    return {"path": "conf/gunicorn_live.py", "python-module": "conf/gunicorn_live.py",
            "implicit": "gunicorn.conf.py", "none": None}[spec.config_ref]


def command(spec: VarietySpec) -> list[str]:
    """The gunicorn command line the manager runs."""
    app_dir = spec.container_path
    argv = list(gunicorn_argv0(spec))
    if spec.config_ref == "path":
        argv += ["-c", f"{app_dir}/conf/gunicorn_live.py"]
    elif spec.config_ref == "python-module":
        argv += ["-c", "python:conf.gunicorn_live"]
    elif spec.config_ref == "none":
        workers, threads = SIZING[spec.start]
        argv += ["-b", "0.0.0.0:8000", "-w", str(workers), "--threads", str(threads), "--worker-connections", "1000",
                 "--access-logfile", "-"]
    cls = worker_class(spec)
    if spec.worker_from in ("-k", "cli-over-config"):
        argv += ["-k", cls]
    elif spec.worker_from == "--worker-class=":
        argv.append(f"--worker-class={cls}")
    if spec.settings_from == "gunicorn-env":
        argv += ["--env", f"DJANGO_SETTINGS_MODULE={settings_module(spec)}"]
    if spec.gunicorn_home == "system" or spec.config_ref == "python-module":
        argv += ["--chdir", app_dir]
    argv.append("schoolsite.asgi:application" if spec.start == "asgi" else "schoolsite.wsgi:application")
    return argv


def environment(spec: VarietySpec) -> dict[str, str]:
    env = {"PYTHONUNBUFFERED": "1"}
    if spec.settings_from == "env":
        env["DJANGO_SETTINGS_MODULE"] = settings_module(spec)
    if spec.settings_from == "settings-init":
        env["DJANGO_ENV"] = "production"
    if spec.worker_from == "cmd-args":
        env["GUNICORN_CMD_ARGS"] = f"--worker-class {worker_class(spec)}"
    if spec.worker_from == "config-env":
        env["APP_WORKER_CLASS"] = worker_class(spec)
    return env


def _settings(spec: VarietySpec, password: str) -> dict[str, str]:
    files = appfiles._settings_files(spec, password)
    if spec.driver == "pymysql":  # PyMySQL stands in for mysqlclient's MySQLdb, as its docs say
        holder = next(p for p in files if p.endswith(("settings.py", "base.py")))
        files[holder] = "import pymysql\n\npymysql.install_as_MySQLdb()\n" + files[holder]
    if spec.start in ("sync", "gthread") and spec.database == "postgres":
        pass  # a healthy app keeps whatever CONN_MAX_AGE the shape wrote
    if spec.settings_from == "settings-init":
        files["schoolsite/settings/__init__.py"] = textwrap.dedent('''\
            """Settings chosen by DJANGO_ENV (production unless told otherwise)."""
            import os

            if os.environ.get("DJANGO_ENV", "production") == "production":
                from .production import *  # noqa: F401,F403
            else:
                from .test import *  # noqa: F401,F403
            ''')
    return files


def wsgi_default(spec: VarietySpec) -> str:
    return settings_module(spec) if spec.settings_from in ("wsgi-setdefault", "settings-init") else "schoolsite.settings"


def app_tree(spec: VarietySpec, password: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(appfiles.PROJECT_TEMPLATE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(appfiles.PROJECT_TEMPLATE).as_posix()] = path.read_text()
    default = wsgi_default(spec)
    for rel in ("schoolsite/wsgi.py", "schoolsite/asgi.py", "manage.py"):
        files[rel] = files[rel].replace('"schoolsite.settings"', repr(default).replace("'", '"'))
    files.update(_settings(spec, password))
    conf = config_path(spec)
    if conf:
        files[conf] = gunicorn_config(spec)
        if conf.startswith("conf/"):
            files["conf/__init__.py"] = ""
    if spec.restart == "compose":
        files["docker-compose.yml"] = compose_file(spec)
    if spec.container_code in ("baked-build", "pulled"):
        files["docker/Dockerfile"] = dockerfile(spec)
        files[".dockerignore"] = DOCKERIGNORE
        files["requirements.txt"] = requirements(stack_key(spec))
    return files


PULLED_IMAGE = "registry.lab.invalid/schoolsite/web:1.4"  # what a registry would ship; built here beforehand
DOCKERIGNORE = ".git\n**/__pycache__\n*.pyc\n.venv\ndocker-compose.yml\ndocker/\n"


def dockerfile(spec: VarietySpec) -> str:
    """The image that bakes the code in (the shape of small Django projects' Dockerfiles: WORKDIR,
    requirements first for the layer cache, then `COPY . <dir>/`); FROM the lab's base image."""
    path = spec.container_path
    return (f"# schoolsite web image (varied host {spec.name}): the code baked in at {path}\n"
            f"FROM {config.APP_IMAGE}\n\nENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n"
            f"WORKDIR {path}\n\nCOPY requirements.txt {path}/\n"
            "# the base image carries the venv (no package index here): only check it\n"
            'RUN /opt/venv/bin/python -c "import django, gunicorn"\n\n'
            f"COPY . {path}/\n\nCMD {json.dumps(command(spec))}\n")


def compose_file(spec: VarietySpec) -> str:
    env = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in environment(spec).items())
    if spec.container_code == "baked-build":
        source = "    build:\n      context: .\n      dockerfile: docker/Dockerfile\n"
    elif spec.container_code == "pulled":
        source = f"    image: {PULLED_IMAGE}\n"
    else:
        source = (f"    image: {config.APP_IMAGE}\n    working_dir: {spec.container_path}\n"
                  f"    volumes:\n      - /srv/app:{spec.container_path}\n")
    return (f"# schoolsite web service (varied host {spec.name}: code at {spec.container_path} in the container,"
            f" {spec.container_code})\n"
            'version: "2.4"\nservices:\n  web:\n' + source + "    network_mode: host\n"
            f"    environment:\n{env}"
            f"    command: {shlex.join(command(spec))}\n    restart: unless-stopped\n"
            + ("    cgroup_parent: /rmlab-apps\n" if spec.cgroup == "custom-parent" else ""))


def build_image(spec: VarietySpec) -> None:
    """The host's image, built in its engine before `up`: a pulled host's tag (there is no
    registry to pull from), a baked-build host's service image from this host's Dockerfile (the
    engine's data outlives a recreated host, and `up` alone would run its predecessor's image)."""
    if spec.container_code == "pulled":
        tag, recipe = PULLED_IMAGE, "docker/Dockerfile"
        if getattr(spec, "real", ""):
            from lab import realfiles_hosts

            tag, recipe = realfiles_hosts.files_of(spec).pulled
        hosts.exec_in(spec, ["docker", "build", "-q", "-t", tag, "-f", f"/srv/app/{recipe}", "/srv/app"], timeout=300)
    elif spec.container_code == "baked-build":
        hosts.exec_in(spec, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "build", "-q"], timeout=300)


def supervisor_conf(spec: VarietySpec) -> str:
    program = appfiles.supervisor_program(spec, shlex.join(command(spec)), environment(spec))
    if spec.manager == "supervisor-group":
        return "[group:web]\nprograms=schoolsite\n\n" + program
    return program


def exec_start(argv: list[str]) -> str:
    """An ExecStart= value, one option per continued line as deployed units write it."""
    def option(word: str) -> bool:
        return word.startswith("-") and word != "-"

    lines: list[str] = []
    for word in map(shlex.quote, argv):
        prev = lines[-1] if lines else ""
        if not option(word) and option(prev) and " " not in prev and "=" not in prev:
            lines[-1] += " " + word  # an option and its value on one line
        else:
            lines.append(word)
    return " \\\n    ".join(lines)


def environment_lines(env: dict[str, str]) -> str:
    return "".join(f'Environment="{k}={v}"\n' if " " in v else f"Environment={k}={v}\n" for k, v in env.items())


def unit_files(spec: VarietySpec) -> dict[str, str]:
    """/etc/systemd/system files (relative) of a systemd host: the unit, and for `systemd-dropin` an
    override.conf (what `systemctl edit` writes) that replaces ExecStart= and adds the environment."""
    dropin = spec.manager == "systemd-dropin"
    base_cmd = gunicorn_argv0(spec) + ["--workers", "3", "--bind", "unix:/run/schoolsite/gunicorn.sock",
                                       "schoolsite.wsgi:application"] if dropin else command(spec)
    unit = (f"# schoolsite: gunicorn for the Django app (varied host {spec.name})\n"
            "[Unit]\nDescription=schoolsite gunicorn daemon\nAfter=network.target\n\n"
            f"[Service]\nType=simple\nUser={config.APP_USER}\nGroup={config.APP_USER}\nWorkingDirectory=/srv/app\n"
            + environment_lines({"PYTHONUNBUFFERED": "1"} if dropin else environment(spec))
            + f"ExecStart={exec_start(base_cmd)}\n"
            "ExecReload=/bin/kill -s HUP $MAINPID\nKillMode=mixed\nTimeoutStopSec=10\nRestart=on-failure\n"
            "RestartSec=2\n\n[Install]\nWantedBy=multi-user.target\n")
    files = {"schoolsite.service": unit}
    if dropin:
        env = {k: v for k, v in environment(spec).items() if k != "PYTHONUNBUFFERED"}
        files["schoolsite.service.d/override.conf"] = (
            "# local override: the command and environment this host really runs\n[Service]\n"
            + environment_lines(env) + f"ExecStart=\nExecStart={exec_start(command(spec))}\n")
    return files


def write_units(spec: VarietySpec) -> None:
    """The host's unit (and drop-in), enabled; the masks systemd_host.prepare made stay."""
    units = spec.dir / systemd_host.UNIT_DIR
    shutil.rmtree(units / "schoolsite.service.d", ignore_errors=True)
    for rel, text in unit_files(spec).items():
        (units / rel).parent.mkdir(parents=True, exist_ok=True)
        (units / rel).write_text(text)
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    if not (wants / "schoolsite.service").is_symlink():
        (wants / "schoolsite.service").symlink_to("/etc/systemd/system/schoolsite.service")


def write_files(spec: VarietySpec, password: str) -> None:
    """The broken (or healthy) state of the host's files; an app-dir venv is kept."""
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        realfiles_hosts.write(spec, password)
        return
    appfiles.write_host_files(spec, password, tree=app_tree(spec, password),
                              program=supervisor_conf(spec) if spec.restart == "supervisor" else None,
                              keep=(".venv",))
    if spec.restart == "systemd":
        write_units(spec)


# -- one host --------------------------------------------------------------------------------

def password(spec: VarietySpec, secrets_dir: Path = SECRETS) -> str:
    """One password per database role (a shared role has one for the whole fleet), kept in
    `secrets_dir` (another host family passes its own)."""
    import secrets

    path = secrets_dir / f"{spec.database}-{spec.db_user}"
    if not path.exists():
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _migrate_locks.setdefault(key, threading.Lock())


def migrate(spec: VarietySpec) -> None:
    """Tables and seed rows, with the host's own stack (a shared database once at a time)."""
    env = {"DJANGO_SETTINGS_MODULE": settings_module(spec), "DJANGO_ENV": "production", "PYTHONDONTWRITEBYTECODE": "1"}
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        env.update(realfiles_hosts.migrate_env(spec, password(spec)))
    with _lock_for(f"{spec.database}/{spec.db_name}"):
        if spec.restart == "compose":
            run([config.APP_VENV / "bin" / "python", "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=spec.dir / "srv" / "app", env={**os.environ, **env}, timeout=300)
        else:
            hosts.exec_in(spec, ["env", "-C", "/srv/app", *(f"{k}={v}" for k, v in env.items()), python_of(spec),
                                 "manage.py", "migrate", "--noinput", "-v", "0"], timeout=300)


def prepare_python(spec: VarietySpec) -> None:
    key = stack_key(spec)
    if spec.gunicorn_home == "other-venv":
        shared_venv(key)
    elif spec.gunicorn_home == "system":
        system_site(key)
    elif spec.gunicorn_home == "app-venv":
        app_venv_inside(spec)


def extra_mounts(spec: VarietySpec) -> list[tuple[str, str]]:
    """Bind mounts beyond the lab's private dirs: the system's packages for a `system` host, the
    unit dir and console of a systemd host."""
    mounts = systemd_host.prepare(spec) if spec.restart == "systemd" else []
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        mounts += realfiles_hosts.mounts_of(spec)
    if spec.gunicorn_home == "system":
        Path(SYSTEM_SITE).mkdir(parents=True, exist_ok=True)
        mounts.append((str(SITES / stack_key(spec)), SYSTEM_SITE))
    return mounts


def start_app(spec: VarietySpec) -> None:
    if spec.restart != "systemd":
        lab._start_app(spec, before_up=build_image)
        return
    systemd_host.wait_booted(spec, hosts.nsenter(spec))
    hosts.exec_in(spec, ["systemctl", "daemon-reload"])
    hosts.exec_in(spec, ["systemctl", "restart", unit_of(spec)], timeout=60)


def unit_of(spec: VarietySpec) -> str:
    """The systemd unit (instance) that runs the host's gunicorn."""
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        return realfiles_hosts.files_of(spec).unit
    return "schoolsite.service"


def program_of(spec: VarietySpec) -> str:
    """The supervisor program that runs the host's gunicorn."""
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        return realfiles_hosts.files_of(spec).program
    return "web:schoolsite" if spec.manager == "supervisor-group" else "schoolsite"


def service_of(spec: VarietySpec) -> str:
    """The compose service that runs the host's gunicorn."""
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        return realfiles_hosts.files_of(spec).service
    return "web"


def sizing(spec: VarietySpec) -> tuple[int, int]:
    """Workers and threads the host's app runs with (its reuse bound is their product)."""
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        return realfiles_hosts.HOSTS[spec.real].sizing  # type: ignore[attr-defined]
    return SIZING[spec.start]


def restart_app(spec: VarietySpec) -> None:
    if spec.restart == "systemd":
        start_app(spec)
        wait_serving(spec, 60)
        return
    lab.restart_app(spec, program=program_of(spec),
                    serving=serving, compose_extra=("--build",) if spec.container_code == "baked-build" else ())


def create_host(spec: VarietySpec) -> None:
    destroy_host(spec.netns)
    if spec.gunicorn_home == "system":
        system_site(stack_key(spec))  # before the host mounts it
    if spec.dir.exists():
        shutil.rmtree(spec.dir)
    spec.dir.mkdir(parents=True)
    network.create_host_network(spec)
    hosts.start(spec, extra_mounts(spec))
    pw = password(spec)
    write_files(spec, pw)
    prepare_python(spec)
    databases.ensure_host_database(spec.database, spec.db_name, spec.db_user, pw)
    migrate(spec)
    lab.start_sshd(spec)
    start_app(spec)
    wait_serving(spec)


def serving(spec: VarietySpec) -> bool:
    try:
        return lab.http_get(f"http://{spec.address}:{config.APP_PORT}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def wait_serving(spec: VarietySpec, timeout: float = 90) -> None:
    lab.wait_for(lambda: serving(spec), timeout, f"{spec.name}: app", interval=0.2)


def host_ok(spec: VarietySpec) -> bool:
    return lab.host_ok(spec, serving=serving)


def reset_host(spec: VarietySpec) -> None:
    """Back to the drawn state, serving."""
    network.restore(spec)
    (spec.dir / "run" / "lock" / "remediation.lock").unlink(missing_ok=True)
    write_files(spec, password(spec))
    restart_app(spec)


def destroy_host(netns: str) -> None:
    lab.destroy_family_host(netns, NETNS_PREFIX, VETH_PREFIX, ROOT / "hosts")
    systemd_host.remove_cgroup(netns.removeprefix(NETNS_PREFIX))


# -- the varied fleet ------------------------------------------------------------------------

def host_vars(spec: VarietySpec) -> dict:
    out = {**lab_inventory.host_vars(spec),
           "remediation_verify_path": SILENT_PATH if spec.app == "own-url-silent" else LOGGED_PATH}
    if getattr(spec, "real", ""):
        from lab import realfiles_hosts

        out.update(realfiles_hosts.inventory_vars(spec))
    return out


def inventory(specs: list[VarietySpec]) -> dict:
    groups: dict[str, dict] = {}
    for spec in specs:
        groups.setdefault(f"variety_{spec.database}", {})[spec.name] = host_vars(spec)
    return {"all": {"vars": lab_inventory.fleet_vars(KNOWN_HOSTS),
                    "children": {name: {"hosts": members} for name, members in groups.items()}}}


def current() -> list[VarietySpec]:
    try:
        return [from_json(h) for h in json.loads(STATE_FILE.read_text())["hosts"]]
    except (FileNotFoundError, ValueError, KeyError):
        raise LabError("no varied hosts are up (run `invoke lab.up --variety covering`)") from None


def up(profile: str, say=print) -> dict:
    """Bring the drawn hosts up beside the main fleet (which must be up: databases, proxy, bridge)."""
    specs = fleet(profile)
    for spec in specs:
        say(describe(spec))
    if not lab.load_state():
        raise LabError("the main lab is not up (its bridge, databases and proxy serve the varied hosts)")
    started = time.monotonic()
    ROOT.mkdir(parents=True, exist_ok=True)
    (ROOT / "hosts").mkdir(exist_ok=True)
    ROOT.chmod(0o755)
    if any(s.restart == "compose" for s in specs):
        image.ensure_rootfs_tar()
    if any(s.restart == "systemd" for s in specs):
        usable, why = systemd_host.available()
        if not usable:
            raise LabError(f"systemd hosts cannot run here: {why}")
    previous = {s.name: s for s in _previous()}
    present = set(network.namespaces(NETNS_PREFIX))
    keep = [s for s in specs if previous.get(s.name) == s and s.netns in present and host_ok(s)]
    for extra in sorted(present - {s.netns for s in keep}):
        destroy_host(extra)
    for key in sorted({stack_key(s) for s in specs if s.gunicorn_home in ("other-venv", "system")}):
        (shared_venv if any(s.gunicorn_home == "other-venv" and stack_key(s) == key for s in specs) else system_site)(key)
    todo = [s for s in specs if s not in keep]
    failures = {n: e for n, e in lab.parallel(create_host, todo).items() if e is not None}
    KNOWN_HOSTS.write_text("".join(lab.host_key_line(s) for s in specs if s.name not in failures))
    tmp = INVENTORY_PATH.with_suffix(".tmp")
    tmp.write_text(HEADER + yaml.safe_dump(inventory(specs), sort_keys=False))
    tmp.replace(INVENTORY_PATH)
    STATE_FILE.write_text(json.dumps({"profile": profile, "hosts": [as_json(s) for s in specs]}, indent=1))
    if failures:
        raise LabError("; ".join(f"{name}: {exc}" for name, exc in failures.items()))
    return {"started": len(todo), "kept": len(keep), "seconds": round(time.monotonic() - started, 1)}


def _previous() -> list[VarietySpec]:
    try:
        return current()
    except LabError:
        return []


def reset(specs: list[VarietySpec] | None = None) -> None:
    specs = specs or current()
    failures = {n: e for n, e in lab.parallel(reset_host, specs).items() if e}
    if failures:
        raise LabError("; ".join(f"{name}: {exc}" for name, exc in failures.items()))


def down() -> int:
    """Remove every varied host and its links (the shared stacks stay cached)."""
    names = set(network.namespaces(NETNS_PREFIX))
    if (ROOT / "hosts").exists():
        names |= {NETNS_PREFIX + d.name for d in (ROOT / "hosts").iterdir() if d.is_dir()}
    specs = {s.netns: s for s in _previous()}
    for netns in names:
        spec = specs.get(netns)
        if spec is not None and spec.restart == "compose" and hosts.is_running(spec):
            hosts.exec_in(spec, ["docker-compose", "-f", "/srv/app/docker-compose.yml", "down", "-t", "2"],
                          check=False, timeout=60)
        destroy_host(netns)
    for veth in network.stale_veths(VETH_PREFIX):
        run(["ip", "link", "del", veth], check=False)
    shutil.rmtree(ROOT, ignore_errors=True)
    return len(names)
