"""Baked images: Dockerfile COPY mapping, .dockerignore and the compose build section, from
fixture files (tests/fixtures/dockerfile/*.yaml, each naming the shape it models)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from agent_payload import hostagent
import yaml

from remediation.facts import compose_build, dockerfile
from remediation.model import Mount

FIXTURES = Path(__file__).parent / "fixtures" / "dockerfile"


def load(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name).read_text())


MAPPING = [(f.name, i) for f in sorted(FIXTURES.glob("*.yaml")) for i, _ in
           enumerate(yaml.safe_load(f.read_text()).get("cases", []))]


@pytest.mark.parametrize("name,index", MAPPING)
def test_map_path(name, index):
    data = load(name)
    case = data["cases"][index]
    found = dockerfile.map_path(data["dockerfile"], case["path"], case.get("target"), build_args=case.get("build_args"))
    if "rel" in case:
        assert found.reason is None, found.reason
        assert list(found.rel) == case["rel"]
    else:
        assert not found.rel
        assert case["refused"] in found.reason


@pytest.mark.parametrize("name", [f.name for f in sorted(FIXTURES.glob("*.yaml")) if "workdir" in load(f.name)])
def test_workdir(name):
    data = load(name)
    assert dockerfile.workdir(data["dockerfile"]) == data["workdir"]


@pytest.mark.parametrize("text,values,want,unknown", [
    ("${A}/x", {"A": "/app"}, "/app/x", ()),
    ("$A/x", {"A": "/app"}, "/app/x", ()),
    ("${A:-/d}", {"A": dockerfile.UNSET}, "/d", ()),
    ("${A:-/d}", {"A": ""}, "/d", ()),
    ("${A:-/d}", {"A": "/a"}, "/a", ()),
    ("${A:+-$B}", {"A": "1", "B": "b"}, "-b", ()),
    ("${A:+x}", {"A": dockerfile.UNSET}, "", ()),
    ("${A}", {"A": dockerfile.UNSET}, "${A}", ("A",)),
    ("${A}/$B", {"A": "/a"}, "/a/$B", ("B",)),
    ("${A:-/d}", {}, "${A:-/d}", ("A",)),  # not declared: the base image may set it
    ("${A#/}", {"A": "/a"}, "${A#/}", ("${A#/}",)),  # a form this reading does not resolve
])
def test_expand_follows_the_builders_rules(text, values, want, unknown):
    assert dockerfile.expand(text, values.get) == (want, unknown)


def test_compose_build_args_reach_the_mapping_in_list_and_mapping_form():
    text = "FROM x\nARG APP_HOME=/app\nCOPY . ${APP_HOME}\n"
    compose = ("services:\n  a:\n    build:\n      context: .\n      args:\n        - APP_HOME=/srv/a\n"
               "  b:\n    build:\n      context: .\n      args:\n        APP_HOME: /srv/b\n"
               "  c:\n    build:\n      context: .\n      args:\n        - APP_HOME\n")
    for name, where in (("a", "/srv/a/x.py"), ("b", "/srv/b/x.py")):
        build = compose_build.build_of(compose, name, "/srv/app")
        assert dockerfile.map_path(text, where, build_args=build.args).rel == ("x.py",)
    from_env = compose_build.build_of(compose, "c", "/srv/app")  # compose takes it from its own environment
    assert "leave unknown (APP_HOME)" in dockerfile.map_path(text, "/app/x.py", build_args=from_env.args).reason


def test_is_dir_settles_a_name_without_a_dot():
    text = "FROM x\nWORKDIR /app\nCOPY . /app/\nCOPY schoolsite /app/\n"
    assert dockerfile.map_path(text, "/app/wsgi.py", is_dir=lambda rel: True).rel == ("schoolsite/wsgi.py",)
    assert dockerfile.map_path(text, "/app/wsgi.py", is_dir=lambda rel: False).rel == ("wsgi.py",)


def test_continuations_comments_and_exec_form():
    text = "FROM x\n# a comment\nCOPY [\"conf/gunicorn.py\", \\\n     \"/etc/gunicorn/\"]\n"
    assert dockerfile.map_path(text, "/etc/gunicorn/gunicorn.py").rel == ("conf/gunicorn.py",)


def test_dockerignore():
    data = load("dockerignore.yaml")
    for rel in data["ignored"]:
        assert dockerfile.ignored(data["dockerignore"], rel), rel
    for rel in data["kept"]:
        assert not dockerfile.ignored(data["dockerignore"], rel), rel


def test_compose_build_sections():
    data = load("compose_build.yaml")
    for service, want in data["builds"].items():
        got = compose_build.build_of(data["compose"], service, data["compose_dir"])
        assert (asdict(got) if got else None) == want, service


def test_code_place_from_mounts_and_build():
    build = compose_build.Build("/srv/app", "/srv/app/Dockerfile")
    mounted = [Mount("/srv/app", "/app")]
    assert compose_build.code_place(mounted, "/app", build) == "mounted"
    assert compose_build.code_place([Mount("/srv/data", "/data")], "/app", build) == "baked-build"
    assert compose_build.code_place([], "/app", None) == "pulled"


def test_baked_code_maps_through_the_dockerfile_and_refuses_what_is_not_certain():
    from remediation.facts.baked import BakedCode

    text = (FIXTURES / "copy_dot_code.yaml").read_text()
    code = BakedCode(compose_build.Build("/srv/app", "/srv/app/Dockerfile"), load("copy_dot_code.yaml")["dockerfile"],
                     ignore="local_settings.py\n")
    assert text and code.map("/code/proj/settings.py") == "/srv/app/proj/settings.py"
    assert code.container_path("/srv/app/proj/wsgi.py") is None  # nothing mapped under it yet
    assert code.map("/code/proj") == "/srv/app/proj"
    assert code.container_path("/srv/app/proj/wsgi.py") == "/code/proj/wsgi.py"
    assert code.map("/code/local_settings.py") is None
    assert ".dockerignore" in code.unmapped["/code/local_settings.py"]
    assert code.map("/usr/lib/python3/x.py") is None and "base image" in code.unmapped["/usr/lib/python3/x.py"]


def test_a_pulled_image_is_refused_with_a_pointer_to_audit():
    from remediation.facts.baked import BakedCode, blockers
    from remediation.model import GunicornMaster, RestartMethod

    master = GunicornMaster(1, ["gunicorn"], "root", 0, "/app", None, {}, [],
                            RestartMethod("docker-compose", program="web", image="registry/x:1", code="pulled"))
    (reason,) = blockers(BakedCode(None), master, [], [])
    assert "registry/x:1" in reason and "audit --path" in reason


def test_baked_restart_recreates_without_building_and_tags_keep_the_repository():
    from remediation.baked_image import kept_tag, repository
    from remediation.managers.compose import Compose
    from remediation.model import RestartMethod

    method = RestartMethod("docker-compose", program="web", config_files=["/srv/app/docker-compose.yml"],
                           project="app", cli=["docker-compose"], code="baked-build", build_context="/srv/app",
                           image="app_web", image_id="sha256:ab")
    assert Compose().restart_argvs(method, ["/srv/app/schoolsite/settings.py"]) == [
        ["docker-compose", "-f", "/srv/app/docker-compose.yml", "-p", "app", "up", "-d", "--no-deps", "--no-build", "web"]]
    # only the compose file changed: no new image is needed, `up -d` applies it
    assert "--no-build" not in Compose().restart_argvs(method, ["/srv/app/docker-compose.yml"])[0]
    assert repository("registry:5000/team/web:1.4") == "registry:5000/team/web"
    assert repository("app_web") == "app_web"
    assert kept_tag(method, "20261201-173643-7924fa") == "app_web:remediation-20261201-173643-7924fa"


def test_the_new_image_is_checked_in_a_container_shaped_on_the_running_one():
    """From a recorded `docker inspect` (tests/fixtures/dockerfile/inspect_baked_container.json)."""

    info = json.loads((FIXTURES / "inspect_baked_container.json").read_text())
    req = {"image_run": {"image": "app_web", "like": info["Id"]}, "python": "/opt/venv/bin/python", "cwd": "/app",
           "snippet": "print(1)", "env": {"GUNICORN_CMD_ARGS": "--threads 8"}}
    argv, text = hostagent.image_run_command(req, ["0", "gunicorn"], info, "/tmp/x/env")
    assert argv == ["docker", "run", "--rm", "-i", "--network", "host", "--env-file", "/tmp/x/env", "-w", "/app",
                    "--entrypoint", "/opt/venv/bin/python", "app_web", "-c", "print(1)", "0", "gunicorn"]
    assert "DJANGO_SETTINGS_MODULE=schoolsite.settings\n" in text and "GUNICORN_CMD_ARGS=--threads 8\n" in text
    assert not any("=" in word and "DJANGO" in word for word in argv)  # the environment stays off the command line


def test_the_agent_summary_carries_the_image_id_the_compose_manager_keeps():
    from remediation.managers.compose import Compose

    info = json.loads((FIXTURES / "inspect_baked_container.json").read_text())
    summary = hostagent.docker_summary(info)
    method = Compose().detect({"container": info["Id"], "docker": summary}, {"docker-compose": "/usr/bin/docker-compose"})
    assert (method.image, method.image_id, method.program) == ("app_web", info["Image"], "web")
    assert compose_build.code_place([], summary["working_dir"], None) == "pulled"


def test_fast_inspect_says_unknown_for_what_the_image_may_set():
    from types import SimpleNamespace

    from remediation.facts.baked import BakedCode
    from remediation.fleet.survey import unseen_in_image

    pulled = SimpleNamespace(baked=BakedCode(None, unmapped={"/app/conf/gunicorn.py": "pulled"}),
                             baked_needed=["/app/conf/gunicorn.py"])
    values = unseen_in_image({"workers": None, "worker_class": "gevent"}, pulled)
    assert values["workers"].startswith("unknown") and values["worker_class"] == "gevent"
    mounted = SimpleNamespace(baked=None, baked_needed=[])
    assert unseen_in_image({"workers": None}, mounted) == {"workers": None}


def test_a_pulled_image_hides_even_the_files_nobody_looked_up():
    """Found on the varied lab: a pulled image whose worker class is in its implicit
    ./gunicorn.conf.py (never named, so never mapped): fast inspect said `sync`, the default."""
    from types import SimpleNamespace

    from remediation.facts.baked import BakedCode
    from remediation.fleet.survey import unseen_in_image

    pulled = SimpleNamespace(baked=BakedCode(None), baked_needed=["/code/gunicorn.conf.py"])
    assert unseen_in_image({"worker_class": None}, pulled)["worker_class"].startswith("unknown")
    # the compose command sets no class: the discovery's "gunicorn's default" is no fact here
    assert unseen_in_image({"worker_class": "sync"}, pulled, {"worker_class"})["worker_class"].startswith("unknown")
    assert unseen_in_image({"worker_class": "gevent"}, pulled, set())["worker_class"] == "gevent"


def test_a_copy_source_named_without_a_slash_is_asked_of_the_host(tmp_path):
    """`COPY ./src /app/` puts a directory's contents in /app, or a file named src at /app/src:
    the host's own read (the agent's op_read on a real context) says which."""
    from agent_payload import hostagent
    from remediation.facts.baked import BakedCode, source_kinds

    (tmp_path / "src" / "shop").mkdir(parents=True)
    (tmp_path / "src" / "shop" / "settings.py").write_text("DEBUG = False\n")
    (tmp_path / "gunicorn").write_text("workers = 2\n")  # a file whose name has no dot

    from remediation.transport.protocol import AgentCalls

    class LocalAgent(AgentCalls):
        def agent(self, *ops, **_):
            return [hostagent.op_read(op) for op in ops]

    text = "FROM python:3.12\nCOPY ./src /app/\nCOPY gunicorn /etc/gunicorn/\nWORKDIR /app\n"
    assert dockerfile.undecided_sources(text) == ["src", "gunicorn"]
    kinds = source_kinds(LocalAgent(), str(tmp_path), ["src", "gunicorn"])
    assert kinds == {"src": True, "gunicorn": False}
    code = BakedCode(compose_build.Build(str(tmp_path), f"{tmp_path}/Dockerfile"), text, dirs=kinds)
    assert code.map("/app") == f"{tmp_path}/src"
    assert code.map("/app/shop/settings.py") == f"{tmp_path}/src/shop/settings.py"
    assert code.map("/etc/gunicorn/gunicorn") == f"{tmp_path}/gunicorn"
    unknown = BakedCode(compose_build.Build(str(tmp_path), f"{tmp_path}/Dockerfile"), text)
    assert unknown.map("/app") is None  # not asked: never guessed


def test_copy_of_a_context_absolute_source_into_the_workdir():
    """yakimenko73/market-csgo-bot's shape: `WORKDIR /app` then `COPY /src .` (a source's leading
    slash is still the context's): /app is the context's src when the host says src is a directory."""
    text = "FROM python:3.8-slim-buster\nWORKDIR /app\nCOPY requirements.txt requirements.txt\nCOPY /src .\n"
    assert dockerfile.undecided_sources(text) == ["src"]
    assert dockerfile.map_path(text, "/app", is_dir=lambda rel: rel == "src").rel == ("src",)
    assert dockerfile.map_path(text, "/app/settings/wsgi.py", is_dir=lambda rel: rel == "src").rel == (
        "src/settings/wsgi.py",)
    assert not dockerfile.map_path(text, "/app", is_dir=lambda rel: False).rel  # a file named src lands as /app/src
