"""Compose services as compose itself builds their environment and command (fixtures written
here, each naming the shape it models): `environment:` over `env_file:` (list and mapping forms)
over the built image's Dockerfile ENV; `${VAR}` interpolated from the project's `.env`; the
service's `command:` replacing the image's CMD; the files compose reads asked of the manager."""
from __future__ import annotations

from remediation.discovery import audit_files
from remediation.discovery.compose_interp import reference
from remediation.discovery.model import ComposeProject, Hints
from remediation.managers.compose import Compose, project_argv, service_files
from remediation.model import RemoteFile, RestartMethod, Target

COMMAND = "gunicorn shop.wsgi:application -k gevent -b 0.0.0.0:8000"
# the third host: code in ./src COPYed as the contents of /app, CONN_MAX_AGE read from the
# environment with a default of 0, set by the compose service's `environment:`
DOCKERFILE = ("FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
              "COPY src/ .\nENV CONN_MAX_AGE=0\nCMD [\"gunicorn\", \"shop.wsgi:application\", \"-k\", \"gevent\", "
              "\"-b\", \"0.0.0.0:8000\"]\n")
APP = {
    "srv/shop/src/shop/__init__.py": "",
    "srv/shop/src/shop/settings/__init__.py": "",
    "srv/shop/src/shop/settings/base.py": (
        "import os\nDATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop',\n"
        "    'CONN_MAX_AGE': int(os.environ.get('CONN_MAX_AGE', 0)), 'CONN_HEALTH_CHECKS': True}}\n"),
    "srv/shop/src/shop/settings/production.py": "from .base import *\nDEBUG = False\n",
    "srv/shop/src/shop/wsgi.py": ("import os\nfrom django.core.wsgi import get_wsgi_application\n"
                                  "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings.production')\n"
                                  "application = get_wsgi_application()\n"),
    "srv/shop/Dockerfile": DOCKERFILE,
}


def compose(env_block: str, extra: str = "") -> str:
    return ("services:\n  web:\n    build:\n      context: .\n    command: " + COMMAND + "\n" + env_block + extra
            + "  db:\n    image: postgres:16\n")


LOADED = ("srv/shop/src/shop/__init__.py", "srv/shop/src/shop/settings/__init__.py",
          "srv/shop/src/shop/settings/base.py", "srv/shop/src/shop/settings/production.py")


def audit(files: dict, env_names=("CONN_MAX_AGE", "PATH")):
    # as on the lab's src-layout host: the app's own import names the settings files it ran (a
    # compose file is none of them, and must not be refused as "not loaded": found on that host)
    hints = Hints(command=COMMAND, cwd="srv/shop/src", settings_module="shop.settings.production",
                  env={"DJANGO_SETTINGS_MODULE": "shop.settings.production"}, env_names=frozenset(env_names),
                  loaded_settings=LOADED)
    result = audit_files({**APP, **files}, Target(), hints)
    return result, {(f.file, f.setting): f for f in result.findings}


def test_the_services_environment_wins_and_the_images_cmd_and_env_are_left_alone():
    result, found = audit({"srv/shop/docker-compose.yml": compose("    environment:\n      CONN_MAX_AGE: \"0\"\n")})
    assert found[("srv/shop/docker-compose.yml", "CONN_MAX_AGE")].action == "patch"
    assert found[("srv/shop/docker-compose.yml", "worker_class")].proposed == "gthread"
    cmd = found[("srv/shop/Dockerfile", "worker_class")]
    assert cmd.action == "report" and "replaced by the command of compose service web" in cmd.reason
    # the image's ENV CONN_MAX_AGE=0 is dead under the service's value: no rebuild for it
    assert "srv/shop/Dockerfile" not in result.patched
    assert 'CONN_MAX_AGE: "600"' in result.patched["srv/shop/docker-compose.yml"]


def test_an_env_file_in_mapping_form_is_where_the_value_is_patched():
    env_block = "    env_file:\n      - path: ./web.env\n        required: false\n"
    result, found = audit({"srv/shop/docker-compose.yml": compose(env_block),
                           "srv/shop/web.env": "# web settings\nCONN_MAX_AGE=0\n"})
    assert found[("srv/shop/web.env", "CONN_MAX_AGE")].action == "patch"
    assert result.patched["srv/shop/web.env"] == "# web settings\nCONN_MAX_AGE=600\n"
    assert "srv/shop/Dockerfile" not in result.patched  # env_file: also replaces the image's ENV


def test_the_images_env_is_patched_when_the_service_sets_nothing():
    result, found = audit({"srv/shop/docker-compose.yml": compose("")})
    assert found[("srv/shop/Dockerfile", "CONN_MAX_AGE")].action == "patch"
    assert "ENV CONN_MAX_AGE=600\n" in result.patched["srv/shop/Dockerfile"]


def test_an_interpolated_value_is_patched_in_the_projects_dotenv():
    env_block = "    environment:\n      CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-0}\n"
    result, found = audit({"srv/shop/docker-compose.yml": compose(env_block),
                           "srv/shop/.env": "COMPOSE_PROJECT_NAME=shop\nDB_CONN_MAX_AGE=60\n"})
    assert result.patched["srv/shop/.env"] == "COMPOSE_PROJECT_NAME=shop\nDB_CONN_MAX_AGE=600\n"
    assert "srv/shop/docker-compose.yml" not in result.patched or \
        "${DB_CONN_MAX_AGE:-0}" in result.patched["srv/shop/docker-compose.yml"]
    assert "via ${DB_CONN_MAX_AGE}" in found[("srv/shop/.env", "CONN_MAX_AGE")].reason
    # what check-config gives the app: the value compose will pass once the .env is patched
    assert result.restarted_env.get("CONN_MAX_AGE") == "600"


def test_an_interpolated_value_without_dotenv_runs_its_default_which_is_patched():
    env_block = "    environment:\n      CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-0}\n"
    result, found = audit({"srv/shop/docker-compose.yml": compose(env_block)})
    assert "CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-600}\n" in result.patched["srv/shop/docker-compose.yml"]
    assert "a shell that runs compose" in found[("srv/shop/docker-compose.yml", "CONN_MAX_AGE")].reason
    assert result.restarted_env.get("CONN_MAX_AGE") == "600"


def test_an_interpolated_value_nothing_sets_is_reported():
    env_block = "    environment:\n      CONN_MAX_AGE: ${DB_CONN_MAX_AGE}\n"
    result, found = audit({"srv/shop/docker-compose.yml": compose(env_block)})
    finding = found[("srv/shop/docker-compose.yml", "CONN_MAX_AGE")]
    assert finding.action == "report" and "shell that runs it" in finding.reason
    assert "srv/shop/docker-compose.yml" not in result.patched or "${DB_CONN_MAX_AGE}" in result.patched[
        "srv/shop/docker-compose.yml"]


def test_references_compose_interpolates():
    assert reference("${X:-0}") and reference("${X:-0}").default == "0" and reference("${X:-0}").default_start == 5
    assert reference("$X").var == "X" and reference("$X").default is None
    assert reference("${X-60}").default == "60"
    assert reference("${X:?set it}") is None and reference("a${X}") is None and reference("${X:-${Y}}") is None


def test_gunicorn_cmd_args_of_the_image_reach_the_service_command_under_its_env_file():
    """The Dockerfile ENV GUNICORN_CMD_ARGS applies to the service (rank under env_file:)."""
    dockerfile = DOCKERFILE.replace("ENV CONN_MAX_AGE=0\n", "ENV GUNICORN_CMD_ARGS=\"--threads 4\"\n")
    files = {"srv/shop/Dockerfile": dockerfile,
             "srv/shop/docker-compose.yml": compose("    environment:\n      CONN_MAX_AGE: \"600\"\n")}
    _result, found = audit(files)
    threads = found[("srv/shop/Dockerfile", "threads")]
    assert threads.current == "4" and threads.action == "patch" and threads.proposed == "8"


def test_the_manager_reads_env_files_dotenv_and_the_dockerfile():
    text = ("services:\n  web:\n    build:\n      context: ./app\n      dockerfile: docker/Dockerfile\n"
            "    env_file:\n      - common.env\n      - path: ./local.env\n        required: false\n"
            "  worker:\n    env_file: worker.env\n")
    assert service_files(text, "web", "/srv/shop") == (["/srv/shop/common.env", "/srv/shop/local.env"],
                                                       ["/srv/shop/app/docker/Dockerfile"])
    assert service_files(text, "worker", "/srv/shop") == (["/srv/shop/worker.env"], [])
    method = RestartMethod("docker-compose", program="web", config_files=["/srv/shop/compose.yaml"],
                           working_dir="/srv/shop", project="shop", cli=["docker", "compose"])
    files = {"/srv/shop/compose.yaml": RemoteFile("/srv/shop/compose.yaml", text.encode(), "x")}
    reads = Compose().reads(method, files)
    assert reads == ["/srv/shop/common.env", "/srv/shop/local.env", "/srv/shop/.env"]
    assert Compose().more_globs(method, files) == reads + ["/srv/shop/app/docker/Dockerfile"]
    # a changed env file is applied by `up -d` (restart keeps the old environment), and is compose's
    # own file, not the image's: no rebuild of a baked image for it
    method.manager_reads, method.code, method.build_context = reads, "baked-build", "/srv/shop"
    (argv,) = Compose().restart_argvs(method, ["/srv/shop/common.env"])
    assert argv[-4:] == ["up", "-d", "--no-deps", "web"]
    assert Compose().owns_file(method, "/srv/shop/.env")
    (argv,) = Compose().restart_argvs(method, ["/srv/shop/app/shop/settings.py"])
    assert "--no-build" in argv


def test_an_env_file_given_to_compose_is_read_and_given_again_on_restart():
    master = {"container": "c1", "docker": {"labels": {
        "com.docker.compose.project": "shop", "com.docker.compose.service": "web",
        "com.docker.compose.project.working_dir": "/srv/shop",
        "com.docker.compose.project.config_files": "/srv/shop/compose.yaml",
        "com.docker.compose.project.environment_file": "/srv/shop/prod.env"}}}
    method = Compose().detect(master, {"docker compose": "/usr/bin/docker"})
    assert method.env_files == ["/srv/shop/prod.env"]
    assert Compose().more_globs(method, {}) == ["/srv/shop/prod.env"]
    assert project_argv(method)[-2:] == ["--env-file", "/srv/shop/prod.env"]


def project_audit(files: dict, dotenv: tuple[str, ...]):
    compose_files = tuple(p for p in files if p.endswith("docker-compose.yml"))
    hints = Hints(command=COMMAND, cwd="srv/shop/src", settings_module="shop.settings.production",
                  env={"DJANGO_SETTINGS_MODULE": "shop.settings.production"},
                  env_names=frozenset(("CONN_MAX_AGE", "PATH")), loaded_settings=LOADED,
                  compose_project=ComposeProject("srv/shop", compose_files, dotenv))
    result = audit_files({**APP, **files}, Target(), hints)
    return result, {(f.file, f.setting): f for f in result.findings}


def test_the_dotenv_of_the_project_directory_is_patched_not_one_beside_the_compose_file():
    """`docker compose -f deploy/docker-compose.yml --project-directory /srv/shop`: compose reads
    /srv/shop/.env (the `working_dir` label), never deploy/.env beside the file."""
    env_block = "    environment:\n      CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-0}\n"
    files = {"srv/shop/deploy/docker-compose.yml": compose(env_block), "srv/shop/.env": "DB_CONN_MAX_AGE=60\n",
             "srv/shop/deploy/.env": "DB_CONN_MAX_AGE=5\n"}
    result, found = project_audit(files, ("srv/shop/.env",))
    assert result.patched["srv/shop/.env"] == "DB_CONN_MAX_AGE=600\n"
    assert "srv/shop/deploy/.env" not in result.patched  # not read by compose for this project
    assert "via ${DB_CONN_MAX_AGE}" in found[("srv/shop/.env", "CONN_MAX_AGE")].reason
    # build: context . is the project directory: its Dockerfile's ENV is replaced by the service's
    assert "srv/shop/Dockerfile" not in result.patched
    assert result.restarted_env.get("CONN_MAX_AGE") == "600"


def test_of_several_env_files_given_to_compose_the_last_that_sets_the_variable_is_patched():
    env_block = "    environment:\n      CONN_MAX_AGE: ${DB_CONN_MAX_AGE:-0}\n"
    files = {"srv/shop/docker-compose.yml": compose(env_block), "srv/shop/base.env": "DB_CONN_MAX_AGE=60\n",
             "srv/shop/prod.env": "DB_CONN_MAX_AGE=0\nLANG=C.UTF-8\n", "srv/shop/.env": "DB_CONN_MAX_AGE=1\n"}
    result, _found = project_audit(files, ("srv/shop/base.env", "srv/shop/prod.env"))
    assert "srv/shop/.env" not in result.patched and "srv/shop/base.env" not in result.patched  # .env: not read
    assert result.patched["srv/shop/prod.env"] == "DB_CONN_MAX_AGE=600\nLANG=C.UTF-8\n"
    assert result.restarted_env.get("CONN_MAX_AGE") == "600"


def test_relative_paths_and_dotenv_resolve_in_the_project_directory_as_compose_config_says(tmp_path):
    """The oracle: docker-compose's own `config` on a project whose directory is not the compose
    file's. Each candidate file gives a different value; the files the controller names must be
    the ones whose values compose shows."""
    import shutil
    import subprocess

    cli = shutil.which("docker-compose")
    if cli is None:
        import pytest
        pytest.skip("docker-compose is not installed")
    project = tmp_path / "shop"
    (project / "deploy").mkdir(parents=True)
    text = ("version: \"2.4\"\nservices:\n  web:\n    image: busybox\n    env_file:\n      - ./web.env\n"
            "    environment:\n      CONN_MAX_AGE: ${DB_AGE:-0}\n")
    (project / "deploy" / "docker-compose.yml").write_text(text)
    for where, value in ((project, "11"), (project / "deploy", "22")):
        (where / ".env").write_text(f"DB_AGE={value}\n")
        (where / "web.env").write_text(f"FROM_ENV_FILE={value}\n")
    compose_file = str(project / "deploy" / "docker-compose.yml")
    shown = subprocess.run([cli, "-f", compose_file, "--project-directory", str(project), "config"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    import yaml
    env = yaml.safe_load(shown.stdout)["services"]["web"]["environment"]
    method = RestartMethod("docker-compose", program="web", config_files=[compose_file], working_dir=str(project))
    reads = Compose().reads(method, {compose_file: RemoteFile(compose_file, text.encode(), "x")})
    assert reads == [str(project / "web.env"), str(project / ".env")]
    assert env == {"CONN_MAX_AGE": "11", "FROM_ENV_FILE": "11"}  # both read where the controller reads them


def test_a_dotenv_compose_does_not_read_is_no_source_of_the_containers_environment():
    """The variable the settings read has the same name in the .env files: only the project
    directory's .env reaches the container (through `${VAR}` in the compose file); a `.env`
    beside the compose file is read by nothing and never patched."""
    env_block = "    environment:\n      CONN_MAX_AGE: ${CONN_MAX_AGE:-0}\n"
    files = {"srv/shop/deploy/docker-compose.yml": compose(env_block), "srv/shop/.env": "CONN_MAX_AGE=0\n",
             "srv/shop/deploy/.env": "CONN_MAX_AGE=60\n"}
    result, found = project_audit(files, ("srv/shop/.env",))
    assert result.patched["srv/shop/.env"] == "CONN_MAX_AGE=600\n"
    assert "srv/shop/deploy/.env" not in result.patched and ("srv/shop/deploy/.env", "CONN_MAX_AGE") not in found


def test_the_live_project_reaches_the_discovery_as_its_labels_name_it():
    """The container's labels (working_dir, config_files, environment_file) become the discovery's
    project: its directory, its compose files and the env files it interpolates from."""
    from remediation.plan.inspection import compose_project

    master = {"container": "c1", "docker": {"labels": {
        "com.docker.compose.project": "shop", "com.docker.compose.service": "web",
        "com.docker.compose.project.working_dir": "/srv/shop",
        "com.docker.compose.project.config_files": "/srv/shop/deploy/docker-compose.yml"}}}
    method = Compose().detect(master, {"docker-compose": "/usr/bin/docker-compose"})
    assert compose_project(method) == ComposeProject("srv/shop", ("srv/shop/deploy/docker-compose.yml",),
                                                     ("srv/shop/.env",))
    assert project_argv(method)[-2:] == ["--project-directory", "/srv/shop"]
    master["docker"]["labels"]["com.docker.compose.project.environment_file"] = "/srv/shop/a.env,/srv/shop/b.env"
    method = Compose().detect(master, {"docker-compose": "/usr/bin/docker-compose"})
    assert compose_project(method).dotenv == ("srv/shop/a.env", "srv/shop/b.env")
    assert compose_project(RestartMethod("systemd", program="web.service")) is None
