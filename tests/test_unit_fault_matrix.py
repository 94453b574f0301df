"""The fault matrix leaves the test session as a build file (git-ignored); only the explicit
`invoke lab.fault-matrix` task puts it in the tracked README."""
from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

import conftest
from lab import faultmatrix


def test_the_measured_matrix_goes_to_a_git_ignored_build_file():
    rel = faultmatrix.MEASURED.relative_to(faultmatrix.ROOT)
    assert rel.parts[0] == "build"
    proc = subprocess.run(["git", "check-ignore", "-q", str(rel)], cwd=faultmatrix.ROOT)
    if proc.returncode == 128:
        pytest.skip("not a git checkout")
    assert proc.returncode == 0, f"{rel} is not git-ignored"


def test_session_end_writes_the_build_file_and_not_the_readme(monkeypatch, tmp_path):
    written = {}
    monkeypatch.setattr(faultmatrix, "write_measured", lambda text: written.setdefault("text", text) and tmp_path)
    readme = faultmatrix.README.read_text()
    matrix = conftest.FaultMatrix()
    matrix.add("sudo denied", survived=True, lost=0)
    monkeypatch.setattr(conftest, "_MATRIX", matrix)
    option = SimpleNamespace(keyword="", markexpr="", lf=False)
    session = SimpleNamespace(config=SimpleNamespace(option=option, args=[]))
    conftest.pytest_sessionfinish(session, 0)
    assert "| sudo denied | yes | 0 |" in written["text"]
    assert faultmatrix.README.read_text() == readme


def test_the_task_replaces_only_the_section():
    text = f"intro\n{faultmatrix.START}\nold\n{faultmatrix.END}\noutro\n"
    assert faultmatrix.into_readme("new\n", text) == f"intro\n{faultmatrix.START}\nnew\n{faultmatrix.END}\noutro\n"
    with pytest.raises(ValueError):
        faultmatrix.into_readme("new\n", "no markers")


def test_the_readme_has_the_section_the_task_fills():
    text = faultmatrix.README.read_text()
    assert faultmatrix.START in text and faultmatrix.END in text
