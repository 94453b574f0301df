"""Facts parsed from recorded probe replies (real output of the agent's `probe` op on lab hosts).

Variants are built by copying and editing the recorded dicts, not by new fixtures."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from agent_payload import hostagent

from remediation.facts.parse import config_file, parse_probe
from remediation.model import GunicornMaster, RestartMethod

FIXTURES = Path(__file__).parent / "fixtures" / "probe"
SUPERVISOR = json.loads((FIXTURES / "supervisor.json").read_text())
COMPOSE = json.loads((FIXTURES / "compose.json").read_text())


AGENT = hostagent  # the host agent's own functions, as a probe on a host runs them


def probe(which: dict, **edits) -> dict:
    """A deep copy of a recorded probe; keyword edits apply to its (single) master. An edited
    argv gets the agent's own reading of where gunicorn's arguments start, as a probe reports it."""
    reply = copy.deepcopy(which)
    reply["masters"][0].update(edits)
    if "argv" in edits:
        reply["masters"][0]["gunicorn_args_from"] = AGENT.gunicorn_args_from(edits["argv"])
    return reply


def master_of(reply: dict) -> GunicornMaster:
    return parse_probe(reply).master()


def with_argv(argv: list[str], cwd: str = "/srv/app", env: dict | None = None) -> GunicornMaster:
    return master_of(probe(SUPERVISOR, argv=argv, cwd=cwd, env=env if env is not None else {}))


# --- the recorded hosts -------------------------------------------------------------------------

def test_supervisor_host_facts():
    facts = parse_probe(SUPERVISOR)
    master = facts.master()
    assert facts.hostname == "lab1" and facts.python == "3.11.2"
    assert (master.pid, master.user, master.uid, master.cwd) == (1321, "app", 999, "/srv/app")
    assert [(w.pid, w.threads) for w in master.workers] == [(1322, 1), (1323, 1)]
    assert master.env == {"DJANGO_SETTINGS_MODULE": "schoolsite.settings"}
    assert master.restart == RestartMethod("supervisor", program="schoolsite",
                                           config_files=["/etc/supervisor/supervisord.conf"])
    assert not master.in_container
    assert master.host_path("/srv/app/gunicorn.conf.py") == "/srv/app/gunicorn.conf.py"
    assert config_file(master) == ("/srv/app/gunicorn.conf.py", "-c /srv/app/gunicorn.conf.py")
    assert master.gunicorn_argv == ["gunicorn", "-c", "/srv/app/gunicorn.conf.py", "schoolsite.wsgi:application"]
    assert master.command.startswith("/var/cache/remediation-lab/appvenv/bin/python3 ")


def test_compose_host_facts():
    facts = parse_probe(COMPOSE)
    master = facts.master()
    assert facts.hostname == "lab3" and facts.compose_clis == {"docker-compose": "1.29.2"}
    restart = master.restart
    assert restart.kind == "docker-compose"
    assert restart.program == "web" and restart.project == "app" and restart.working_dir == "/srv/app"
    assert restart.config_files == ["/srv/app/docker-compose.yml"]
    assert restart.cli == ["docker-compose"]
    assert restart.container == COMPOSE["masters"][0]["container"]
    assert master.in_container
    assert [(m.source, m.destination, m.rw) for m in master.mounts] == [("/srv/app", "/srv/app", True)]
    assert master.host_path("/srv/app/schoolsite/settings.py") == "/srv/app/schoolsite/settings.py"
    assert master.host_path("/opt/venv/lib/python3.11/site-packages/x.py") is None  # inside the image


def test_probe_parsing_does_not_mutate_the_reply():
    reply = copy.deepcopy(COMPOSE)
    parse_probe(reply)
    assert reply == COMPOSE


# --- masters --------------------------------------------------------------------------------------

def test_two_masters_without_a_choice_is_a_lookup_error_naming_both_apps():
    reply = copy.deepcopy(SUPERVISOR)
    second = copy.deepcopy(reply["masters"][0])
    second["pid"] = 4242
    reply["masters"].append(second)
    facts = parse_probe(reply)
    with pytest.raises(LookupError) as info:
        facts.master()
    message = str(info.value)
    # supervisord's status names pid 1321 only: the other has no manager name and no recorded socket
    assert "2 gunicorn apps" in message and "schoolsite" in message and "gunicorn-pid-4242" in message
    assert "--app NAME" in message
    assert facts.master("gunicorn-pid-4242").pid == 4242 and facts.master("schoolsite").pid == 1321


def test_two_masters_of_one_name_are_told_apart_by_their_listening_address():
    from remediation.apps import named

    reply = copy.deepcopy(SUPERVISOR)
    reply["masters"][0]["listen"] = ["127.0.0.1:8000"]
    second = copy.deepcopy(reply["masters"][0])
    second["pid"], second["listen"] = 4242, ["127.0.0.1:8001"]
    second["supervisor"]["status"] = second["supervisor"]["status"].replace("pid 1321,", "pid 4242,")
    reply["masters"].append(second)
    facts = parse_probe(reply)
    assert {n: m.pid for n, m in named(facts.masters).items()} == {"schoolsite@127.0.0.1:8000": 1321,
                                                                   "schoolsite@127.0.0.1:8001": 4242}


def test_no_master_is_a_lookup_error():
    reply = copy.deepcopy(SUPERVISOR)
    reply["masters"] = []
    with pytest.raises(LookupError, match="no gunicorn master"):
        parse_probe(reply).master()


# --- restart method -----------------------------------------------------------------------------

def test_supervisor_program_found_through_a_wrapper_pid():
    reply = probe(SUPERVISOR)
    m = reply["masters"][0]
    m["ancestors"].insert(0, {"pid": 1300, "name": "sh", "argv": ["sh", "-c", "exec gunicorn ..."]})
    m["supervisor"]["status"] = ("other                            RUNNING   pid 77, uptime 0:10:00\n"
                                 "schoolsite                       RUNNING   pid 1300, uptime 0:00:23\n")
    assert master_of(reply).restart.program == "schoolsite"


def test_supervisor_status_pid_prefix_does_not_match():
    reply = probe(SUPERVISOR)
    reply["masters"][0]["supervisor"]["status"] = "decoy  RUNNING   pid 13210, uptime 0:00:23\n"
    assert master_of(reply).restart.program is None


def test_supervisor_program_missing_from_status():
    reply = probe(SUPERVISOR)
    reply["masters"][0]["supervisor"]["status"] = "schoolsite  STOPPED   Nov 21 10:00 PM\n"
    restart = master_of(reply).restart
    assert restart.kind == "supervisor" and restart.program is None


def test_systemd_unit_under_pid_1_systemd():
    reply = probe(SUPERVISOR, systemd_unit="schoolsite.service",
                  ancestors=[{"pid": 1, "name": "systemd", "argv": ["/sbin/init"]}])
    del reply["masters"][0]["supervisor"]
    assert master_of(reply).restart == RestartMethod("systemd", program="schoolsite.service")


def test_nothing_known_manages_it():
    reply = probe(SUPERVISOR, ancestors=[{"pid": 1, "name": "bash", "argv": ["bash"]}])
    del reply["masters"][0]["supervisor"]
    assert master_of(reply).restart.kind == "unknown"


def test_docker_compose_v2_cli_preferred_when_both_exist():
    reply = copy.deepcopy(COMPOSE)
    reply["compose_clis"] = {"docker-compose": "1.29.2", "docker compose": "2.24.0"}
    assert master_of(reply).restart.cli == ["docker", "compose"]


def test_no_compose_cli_on_the_host():
    reply = copy.deepcopy(COMPOSE)
    reply["compose_clis"] = {}
    assert master_of(reply).restart.cli == []


def test_compose_files_are_joined_to_the_working_dir_and_normalised():
    reply = copy.deepcopy(COMPOSE)
    labels = reply["masters"][0]["docker"]["labels"]
    labels["com.docker.compose.project.config_files"] = "./docker-compose.yml,../shared/override.yml,/etc/c.yml"
    assert master_of(reply).restart.config_files == ["/srv/app/docker-compose.yml", "/srv/shared/override.yml",
                                                     "/etc/c.yml"]


def test_container_without_compose_labels_is_plain_docker():
    reply = copy.deepcopy(COMPOSE)
    reply["masters"][0]["docker"]["labels"] = {}
    restart = master_of(reply).restart
    assert restart.kind == "docker" and restart.container == COMPOSE["masters"][0]["container"]


def test_failed_docker_inspect_keeps_container_paths_unmapped():
    # a container the agent could not inspect must not have its paths read as host paths
    reply = probe(COMPOSE, docker={"error": "Cannot connect to the Docker daemon"})
    master = master_of(reply)
    assert master.in_container and master.restart.kind == "docker"
    assert master.host_path("/srv/app/gunicorn.conf.py") is None


# --- config file resolution ---------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["-c", "/etc/gunicorn/app.py"], ("/etc/gunicorn/app.py", "-c /etc/gunicorn/app.py")),
    (["--config", "conf/g.py"], ("/srv/app/conf/g.py", "-c conf/g.py")),
    (["--config=../shared/g.py"], ("/srv/shared/g.py", "-c ../shared/g.py")),
    (["-cgunicorn.ini"], ("/srv/app/gunicorn.ini", "-c gunicorn.ini")),
    (["-c", "file:/etc/g.conf"], ("/etc/g.conf", "-c file:/etc/g.conf")),
    (["-c", "python:schoolsite.gunicorn_conf"], ("/srv/app/schoolsite/gunicorn_conf.py",
                                                  "-c python:schoolsite.gunicorn_conf")),
    ([], ("/srv/app/gunicorn.conf.py", "default ./gunicorn.conf.py")),
    (["-c", "/a.py", "--config=/b.py"], ("/b.py", "-c /b.py")),  # the last one wins, as in argparse
    (["-w", "4", "schoolsite.wsgi", "-c", "/late.py"], ("/late.py", "-c /late.py")),
])
def test_config_file_from_the_command_line(args, expected):
    master = with_argv(["/venv/bin/gunicorn", *args, "schoolsite.wsgi:application"])
    assert config_file(master) == expected


def test_config_file_from_gunicorn_cmd_args():
    master = with_argv(["gunicorn", "app.wsgi"], env={"GUNICORN_CMD_ARGS": "--workers 3 -c /etc/g.py"})
    assert config_file(master) == ("/etc/g.py", "-c /etc/g.py")
    master = with_argv(["gunicorn", "app.wsgi"], env={"GUNICORN_CMD_ARGS": "--config=conf/env.py --bind :80"})
    assert config_file(master) == ("/srv/app/conf/env.py", "-c conf/env.py")


def test_command_line_config_beats_gunicorn_cmd_args():
    master = with_argv(["gunicorn", "-c", "/cli.py", "app.wsgi"], env={"GUNICORN_CMD_ARGS": "-c /env.py"})
    assert config_file(master) == ("/cli.py", "-c /cli.py")


def test_gunicorn_cmd_args_without_config_falls_back_to_the_default():
    master = with_argv(["gunicorn", "app.wsgi"], cwd="/opt/site", env={"GUNICORN_CMD_ARGS": "--workers 3"})
    assert config_file(master) == ("/opt/site/gunicorn.conf.py", "default ./gunicorn.conf.py")


# --- gunicorn argv ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["/usr/bin/python3", "-m", "gunicorn", "-w", "2", "app.wsgi"],
    ["python3.11", "-u", "-m", "gunicorn", "-w", "2", "app.wsgi"],
    ["/venv/bin/python3", "/venv/bin/gunicorn", "-w", "2", "app.wsgi"],
    ["/venv/bin/gunicorn", "-w", "2", "app.wsgi"],
    ["gunicorn", "-w", "2", "app.wsgi"],
])
def test_gunicorn_argv_drops_the_interpreter(argv):
    assert with_argv(argv).gunicorn_argv == ["gunicorn", "-w", "2", "app.wsgi"]


def test_python_m_gunicorn_config_is_found():
    master = with_argv(["/venv/bin/python", "-m", "gunicorn", "--config", "g.py", "app.wsgi"], cwd="/app")
    assert config_file(master) == ("/app/g.py", "-c g.py")


def test_argument_named_like_gunicorn_after_the_head_is_not_the_program():
    argv = ["/usr/bin/runner", "--a", "--b", "--c", "gunicorn", "-w", "2"]
    assert with_argv(argv).gunicorn_argv == argv


# --- container path mapping ---------------------------------------------------------------------

def mapped(mounts: list[tuple[str, str]]) -> GunicornMaster:
    reply = copy.deepcopy(COMPOSE)
    reply["masters"][0]["docker"]["mounts"] = [
        {"source": s, "destination": d, "type": "bind", "rw": True} for s, d in mounts]
    return master_of(reply)


def test_longest_mount_prefix_wins_in_any_order():
    mounts = [("/data/conf", "/srv/app/conf"), ("/data/app", "/srv/app"), ("/data/deep", "/srv/app/conf/deep/")]
    for order in (mounts, mounts[::-1]):
        master = mapped(order)
        assert master.host_path("/srv/app/conf/g.py") == "/data/conf/g.py"
        assert master.host_path("/srv/app/conf/deep/x.py") == "/data/deep/x.py"
        assert master.host_path("/srv/app/manage.py") == "/data/app/manage.py"
        assert master.host_path("/srv/app") == "/data/app"


def test_mount_prefix_respects_path_boundaries():
    master = mapped([("/data/app", "/srv/app")])
    assert master.host_path("/srv/application/settings.py") is None
    assert master.host_path("/srv/app2/x.py") is None


def test_path_outside_any_mount_is_none():
    master = mapped([("/data/app", "/srv/app")])
    assert master.host_path("/etc/gunicorn.conf.py") is None
    assert master.host_path("/srv") is None


def test_mounts_without_source_or_destination_are_ignored():
    reply = copy.deepcopy(COMPOSE)
    reply["masters"][0]["docker"]["mounts"] = [{"source": None, "destination": "/srv/app", "type": "volume"},
                                               {"source": "/data/x", "destination": "", "type": "bind"}]
    assert master_of(reply).mounts == []
    assert master_of(reply).host_path("/srv/app/x") is None


def test_supervisor_status_of_grouped_and_plain_programs():
    from remediation.managers.supervisor import program_in_status as _supervisor_program

    status = ("web:gunicorn_00          RUNNING   pid 41, uptime 0:01:00\n"
              "worker                   RUNNING   pid 52, uptime 0:01:00\n"
              "solo:solo                RUNNING   pid 63, uptime 0:01:00\n")
    assert _supervisor_program(status, 41) == "web:gunicorn_00"
    assert _supervisor_program(status, 52) == "worker"
    assert _supervisor_program(status, 63) == "solo"  # a program alone in its own group
