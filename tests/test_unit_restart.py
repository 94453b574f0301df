"""restart_argvs: the commands that really apply a change (domain.md, pre-flight check 5)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from remediation.facts.parse import parse_probe
from remediation.model import RestartMethod
from remediation.errors import RestartError
from remediation.restart import restart_argvs

FIXTURES = Path(__file__).parent / "fixtures" / "probe"
CONF = "/etc/supervisor/supervisord.conf"


def recorded(name: str) -> RestartMethod:
    return parse_probe(json.loads((FIXTURES / f"{name}.json").read_text())).master().restart


SUPERVISOR = recorded("supervisor")
COMPOSE = recorded("compose")


# --- supervisor ---------------------------------------------------------------------------------

def test_recorded_supervisor_host_app_file_changed_restarts_the_program():
    assert restart_argvs(SUPERVISOR, ["/srv/app/gunicorn.conf.py", "/srv/app/schoolsite/settings.py"]) == [
        ["supervisorctl", "-c", CONF, "restart", "schoolsite"]]


def test_recorded_supervisor_host_program_file_changed_rereads_and_updates():
    assert restart_argvs(SUPERVISOR, ["/srv/app/gunicorn.conf.py", "/etc/supervisor/conf.d/schoolsite.conf"]) == [
        ["supervisorctl", "-c", CONF, "reread"],
        ["supervisorctl", "-c", CONF, "update", "schoolsite"],
    ]


@pytest.mark.parametrize("main_conf, program_file", [
    (CONF, "/etc/supervisor/supervisord.conf"),
    (CONF, "/etc/supervisor/conf.d/app.ini"),
    ("/etc/supervisord.conf", "/etc/supervisord.d/schoolsite.ini"),  # RHEL/CentOS layout
    ("/etc/supervisord.conf", "/etc/supervisord.conf"),
])
def test_other_supervisor_program_file_layouts_are_program_changes(main_conf, program_file):
    method = RestartMethod("supervisor", program="schoolsite", config_files=[main_conf])
    assert restart_argvs(method, [program_file]) == [["supervisorctl", "-c", main_conf, "reread"],
                                                     ["supervisorctl", "-c", main_conf, "update", "schoolsite"]]


def test_a_conf_file_outside_supervisor_dirs_is_an_app_file():
    method = RestartMethod("supervisor", program="schoolsite", config_files=[CONF])
    assert restart_argvs(method, ["/srv/app/gunicorn.conf"]) == [["supervisorctl", "-c", CONF, "restart", "schoolsite"]]


def test_supervisor_without_a_known_config_uses_the_default():
    method = RestartMethod("supervisor", program="schoolsite")
    assert restart_argvs(method, ["/srv/app/x.py"]) == [["supervisorctl", "restart", "schoolsite"]]


def test_supervisor_program_not_found_is_a_clear_error():
    method = RestartMethod("supervisor", program=None, config_files=[CONF])
    with pytest.raises(RestartError, match="program name was not found"):
        restart_argvs(method, ["/srv/app/x.py"])


# --- docker-compose -----------------------------------------------------------------------------

def test_recorded_compose_host_app_file_changed_restarts_the_service():
    assert restart_argvs(COMPOSE, ["/srv/app/gunicorn.conf.py"]) == [
        ["docker-compose", "-f", "/srv/app/docker-compose.yml", "-p", "app", "--project-directory", "/srv/app",
         "restart", "web"]]


def test_recorded_compose_host_compose_file_changed_recreates_the_service():
    assert restart_argvs(COMPOSE, ["/srv/app/gunicorn.conf.py", "/srv/app/docker-compose.yml"]) == [
        ["docker-compose", "-f", "/srv/app/docker-compose.yml", "-p", "app", "--project-directory", "/srv/app",
         "up", "-d", "--no-deps", "web"]]


def test_every_compose_file_project_and_directory_are_passed():
    method = RestartMethod("docker-compose", program="web", project="shop",
                           config_files=["/srv/a/docker-compose.yml", "/srv/a/docker-compose.prod.yml"],
                           working_dir="/srv/a", container="c" * 64, cli=["docker", "compose"])
    argvs = restart_argvs(method, ["/srv/a/docker-compose.prod.yml"])
    assert argvs == [["docker", "compose", "-f", "/srv/a/docker-compose.yml", "-f", "/srv/a/docker-compose.prod.yml",
                      "-p", "shop", "--project-directory", "/srv/a", "up", "-d", "--no-deps", "web"]]


def test_compose_v2_preferred_when_both_clis_exist():
    reply = json.loads((FIXTURES / "compose.json").read_text())
    reply["compose_clis"]["docker compose"] = "2.24.0"
    method = parse_probe(reply).master().restart
    assert restart_argvs(method, [])[0][:2] == ["docker", "compose"]


def test_compose_without_a_cli_is_a_clear_error():
    method = copy.deepcopy(COMPOSE)
    method.cli = []
    with pytest.raises(RestartError, match="docker compose.*docker-compose.*installed"):
        restart_argvs(method, ["/srv/app/docker-compose.yml"])


def test_compose_without_a_service_name_is_a_clear_error():
    method = copy.deepcopy(COMPOSE)
    method.program = None
    with pytest.raises(RestartError, match="service name was not found"):
        restart_argvs(method, ["/srv/app/docker-compose.yml"])


# --- systemd and the rest -----------------------------------------------------------------------

def test_systemd_restart_and_daemon_reload_on_unit_change():
    method = RestartMethod("systemd", program="schoolsite.service")
    assert restart_argvs(method, ["/srv/app/g.py"]) == [["systemctl", "restart", "schoolsite.service"]]
    assert restart_argvs(method, ["/etc/systemd/system/schoolsite.service.d/override.conf"]) == [
        ["systemctl", "daemon-reload"], ["systemctl", "restart", "schoolsite.service"]]


def test_systemd_without_a_unit_is_a_clear_error():
    with pytest.raises(RestartError, match="unit was not found"):
        restart_argvs(RestartMethod("systemd", program=None), [])


@pytest.mark.parametrize("kind", ["unknown", "docker"])
def test_unmanaged_gunicorn_is_refused_with_the_manager_named(kind):
    with pytest.raises(RestartError) as info:
        restart_argvs(RestartMethod(kind, container="c" * 64 if kind == "docker" else None), ["/srv/app/g.py"])
    assert repr(kind) in str(info.value) and "by hand" in str(info.value)


# --- hostile values stay single argv elements ---------------------------------------------------

HOSTILE = "my app; rm -rf / $(id) `reboot` 'q' \"d\"\n#"


def test_hostile_names_stay_single_argv_elements():
    sup = RestartMethod("supervisor", program=HOSTILE, config_files=[f"/etc/super visor/{HOSTILE}.conf"])
    argvs = restart_argvs(sup, [f"/etc/super visor/{HOSTILE}.conf"])
    assert argvs == [["supervisorctl", "-c", f"/etc/super visor/{HOSTILE}.conf", "reread"],
                     ["supervisorctl", "-c", f"/etc/super visor/{HOSTILE}.conf", "update", HOSTILE]]
    compose = RestartMethod("docker-compose", program=HOSTILE, project=HOSTILE, config_files=[f"/srv/{HOSTILE}.yml"],
                            working_dir=f"/srv/{HOSTILE}", container="c" * 64, cli=["docker", "compose"])
    argv = restart_argvs(compose, [f"/srv/{HOSTILE}.yml"])[0]
    assert argv == ["docker", "compose", "-f", f"/srv/{HOSTILE}.yml", "-p", HOSTILE, "--project-directory",
                    f"/srv/{HOSTILE}", "up", "-d", "--no-deps", HOSTILE]
    assert all(isinstance(word, str) for word in argv)


def test_program_in_a_supervisor_group_restarts_by_full_name_and_updates_the_group():
    grouped = RestartMethod("supervisor", program="web:gunicorn", config_files=[CONF])
    assert restart_argvs(grouped, ["/srv/app/gunicorn.conf.py"]) == [
        ["supervisorctl", "-c", CONF, "restart", "web:gunicorn"]]
    assert restart_argvs(grouped, ["/etc/supervisor/conf.d/web.conf"]) == [
        ["supervisorctl", "-c", CONF, "reread"], ["supervisorctl", "-c", CONF, "update", "web"]]
