"""The podman manager from recorded `podman inspect` replies (tests/fixtures/podman/, recorded with
Debian's podman 4.3.1 from the lab's image): the probe's summary, recognition, path mapping through
the container's mounts, and the restart of each shape (plain `podman run --restart`, a unit from
`podman generate systemd --new`, whose `Environment=PODMAN_SYSTEMD_UNIT=%n` makes podman label the
container)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_payload import hostagent

from remediation import managers
from remediation.errors import RestartError
from remediation.facts.parse import parse_probe
from remediation.managers.podman import Podman
from remediation.model import RestartMethod

FIXTURES = Path(__file__).parent / "fixtures" / "podman"


def inspect(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())[0]


def master(info: dict | None, docker: dict | None = None) -> dict:
    """A probed master (the agent's keys) in a container: podman's summary of it, as the probe adds it."""
    raw = {"pid": 4242, "argv": ["/opt/venv/bin/python3", "/opt/venv/bin/gunicorn", "-c", "/app/conf/shop.py",
                                 "schoolsite.wsgi:application"], "user": "root", "uid": 0, "cwd": "/app",
           "exe": "/opt/venv/bin/python3", "env": {}, "workers": [], "ancestors": [], "container": "", "listen": []}
    if info is not None:
        raw["podman"] = hostagent.podman_summary(info)
    if docker is not None:
        raw["docker"] = docker
    return raw


def test_the_summary_keeps_what_the_tool_needs():
    summary = hostagent.podman_summary(inspect("inspect-systemd-unit.json"))
    assert summary["name"] == "shop-unit" and len(summary["id"]) == 64
    assert summary["labels"] == {"PODMAN_SYSTEMD_UNIT": "shop.service"}
    assert summary["mounts"] == [{"source": "/srv", "destination": "/app", "type": "bind", "rw": False}]
    assert summary["env"] == {}  # PATH, HOSTNAME, container: none the tool reads
    assert (summary["stop_signal"], summary["stop_timeout"]) == (15, 20)
    plain = hostagent.podman_summary(inspect("inspect-run-restart-always.json"))
    assert plain["env"] == {"DJANGO_SETTINGS_MODULE": "schoolsite.settings"}
    assert plain["restart_policy"] == "always" and plain["labels"] == {}
    assert plain["create_command"][:2] == ["podman", "--root"]


def test_the_probe_finds_the_container_by_its_first_pid(monkeypatch):
    info = inspect("inspect-run-restart-always.json")
    raw = master(None)
    raw["ancestors"] = [{"pid": info["State"]["Pid"], "name": "python3", "argv": []}]
    monkeypatch.setattr(hostagent, "mount_ns", lambda pid: "mnt:[2]" if pid != 1 else "mnt:[1]")
    monkeypatch.setattr(hostagent, "podman_containers", lambda: {info["State"]["Pid"]: info})
    hostagent.probe_podman(raw, {"cache": {}})
    assert raw["podman"]["name"] == "shop"
    on_host = master(None)
    monkeypatch.setattr(hostagent, "mount_ns", lambda pid: "mnt:[1]")
    hostagent.probe_podman(on_host, {"cache": {}})
    assert "podman" not in on_host


def test_detected_before_plain_docker_and_paths_mapped_through_its_mounts():
    reply = {"hostname": "pm1", "masters": [master(inspect("inspect-run-restart-always.json"))]}
    facts = parse_probe(reply)
    (m,) = facts.masters
    assert m.restart.kind == "podman" and m.restart.program == "shop"
    assert [(x.source, x.destination) for x in m.mounts] == [("/srv", "/app")]
    assert managers.detect(master(None), {}).kind == "docker"  # a container podman does not know: unmapped
    assert m.host_path("/app/conf/shop.py") == "/srv/conf/shop.py"


def test_restart_plain_container_or_its_unit():
    podman = Podman()
    plain = podman.detect(master(inspect("inspect-run-restart-always.json")), {})
    assert podman.restart_argvs(plain, ["/srv/conf/shop.py"]) == [["podman", "restart", "--time", "10", plain.container]]
    unit = podman.detect(master(inspect("inspect-systemd-unit.json")), {})
    assert podman.restart_argvs(unit, ["/srv/conf/shop.py"]) == [["systemctl", "restart", "shop.service"]]
    bounds = podman.stop_bounds(unit, {}, 30.0)
    assert (bounds.stop_signal, bounds.stop_timeout_s, bounds.bound_s) == ("TERM", 20.0, 20.0)
    with pytest.raises(RestartError):
        podman.restart_argvs(RestartMethod("podman"), [])


def test_inventory_and_log_source():
    podman = Podman()
    method = podman.detect(master(inspect("inspect-run-restart-always.json")), {})
    assert podman.check_inventory(method, {"remediation_podman_container": "shop"}) == []
    assert podman.check_inventory(method, {"remediation_podman_container": "web"}) == [
        "podman runs gunicorn in container 'shop', the inventory says 'web'"]
    assert podman.log_source(method, {}) == {"kind": "podman", "container": method.container, "key": "app"}


def test_introspection_runs_in_the_container_through_podman():
    argv, env, cwd, privs = hostagent.app_command(
        {"container": "abc", "engine": "podman", "python": "/opt/venv/bin/python3", "snippet": "print(1)", "cwd": "/app"}, [])
    assert argv[:2] == ["podman", "exec"] and "abc" in argv
    argv, *_ = hostagent.app_command({"container": "abc", "python": "python3", "snippet": "1"}, [])
    assert argv[0] == "docker"


def test_the_introspect_request_names_podman_and_docker_stays_unchanged():
    from remediation.facts.gather import introspect_op

    (m,) = parse_probe({"hostname": "pm1", "masters": [master(inspect("inspect-run-restart-always.json"))]}).masters
    assert introspect_op(m, want_db=False).wire()["engine"] == "podman"
    (d,) = parse_probe({"hostname": "d1", "masters": [master(None)]}).masters
    assert "engine" not in introspect_op(d, want_db=False).wire()


def test_the_agent_probe_recorded_on_the_lab_podman_host():
    """tests/fixtures/probe/podman.json: the agent's probe on lab/podman_apps.py's host (two
    containers run by `podman run --restart=always`, /srv/app mounted at /app); podman's first
    process is the gunicorn master, under conmon."""
    from remediation.facts.parse import config_file
    from remediation.model import app_names

    facts = parse_probe(json.loads((FIXTURES.parent / "probe" / "podman.json").read_text()))
    names = app_names(facts.masters)
    assert set(names) == {"shop", "api"}
    shop = names["shop"]
    assert shop.restart.kind == "podman" and shop.restart.stop == {"signal": 15, "timeout": 10}
    path, how = config_file(shop)
    assert (path, how) == ("/app/conf/shop.py", "-c /app/conf/shop.py")
    assert shop.host_path(path) == "/srv/app/conf/shop.py"
    assert Podman().restart_argvs(shop.restart, ["/srv/app/conf/shop.py"]) == [
        ["podman", "restart", "--time", "10", shop.restart.container]]


def test_the_podman_log_reply_recorded_is_evidence():
    from remediation.verify.worker_proof import describe, log_evidence

    source = {"kind": "podman", "container": "43337b1237389dcc151eb2208b2739d9c1bddac5bc07198fa6a79f77e3fb85c0",
              "key": "app"}
    reply = json.loads((FIXTURES / "logs-since.json").read_text())["app"]
    evidence = log_evidence(source, reply)
    assert "Using worker: gevent" in evidence.text and evidence.where == "podman logs of 43337b123738"
    assert describe({"kind": "docker", "container": "abcdef0123456789"}) == "docker logs of abcdef012345"
