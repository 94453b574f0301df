"""Baked images: Dockerfile COPY mapping, .dockerignore and the compose build section, from
fixture files (tests/fixtures/dockerfile/*.yaml, each naming the shape it models)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
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
    found = dockerfile.map_path(data["dockerfile"], case["path"], case.get("target"))
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
