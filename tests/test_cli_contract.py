"""The CLI contract people script against (no lab): confirmation without a terminal, short
flags, exit codes (0 ok, 1 failed/rolled back, 2 bad input, 3 unreachable), one line per
expected failure, JSON reports with schema_version."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from remediation.cli import PRODUCT_TASKS
from remediation.cli.common import SCHEMA_VERSION, fleet_exit_code

ROOT = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def inv(tmp_path):
    path = tmp_path / "inv.ini"
    path.write_text(f"[web]\nweb1 ansible_host=127.0.0.1 ansible_port={closed_port()} ansible_user=deploy\n"
                    f"web2 ansible_host=127.0.0.1 ansible_port={closed_port()} ansible_user=deploy\n")
    return path


def cli(*args, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "REMEDIATION_RUNS_DIR": str(tmp_path / "runs"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "remediation", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path, env=env, timeout=120)


def one_line_error(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("warning")]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("task, extra", [
    ("remediate", ["--host", "web1"]),
    ("rollout", ["-l", "all"]),
    ("unlock", ["--host", "web1"]),
])
def test_no_change_without_yes_when_stdin_is_not_a_terminal(inv, tmp_path, task, extra):
    proc = cli(task, "-i", str(inv), *extra, tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "--yes" in one_line_error(proc) and "not a terminal" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run started


@pytest.mark.parametrize("args, fragment", [
    (["inspect", "-l", "all", "-f", "abc"], "--forks must be a whole number"),
    (["rollout", "-l", "all", "--forks", "0", "--yes"], "--forks must be at least 1"),
    (["rollout", "-l", "all", "--max-fail-percentage", "lots", "--yes"], "--max-fail-percentage must be a number"),
    (["inspect", "--host", "web1", "--json", "/nonexistent/dir/out.json"], "the directory does not exist"),
    (["inspect", "--host", "web1", "--json", "/"], "is a directory"),
    (["inspect", "--host", "nosuch"], "unknown host 'nosuch'"),
    (["rollout", "-l", "all:!web", "--yes"], "matches no host"),
    (["rollout", "-l", "web:!typo", "--yes"], "no host or group named 'typo'"),
])
def test_bad_input_is_one_line_and_exit_2(inv, tmp_path, args, fragment):
    proc = cli(*args[:1], "-i", str(inv), *args[1:], tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert fragment in one_line_error(proc)


def test_unreachable_host_exits_3(inv, tmp_path):
    proc = cli("inspect", "-i", str(inv), "--host", "web1", tmp_path=tmp_path)
    assert proc.returncode == 3 and "cannot reach deploy@127.0.0.1:" in one_line_error(proc)  # the resolved login


def test_fleet_run_with_only_unreachable_hosts_exits_3_with_a_versioned_report(inv, tmp_path):
    proc = cli("rollout", "-i", str(inv), "-l", "all", "--yes", "--json", "-", "--serial", "2",
               tmp_path=tmp_path)
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema_version"] == SCHEMA_VERSION and data["kind"] == "rollout"
    assert {name: h["status"] for name, h in data["hosts"].items()} == {"web1": "unreachable", "web2": "unreachable"}


def test_survey_report_is_keyed_by_host(inv, tmp_path):
    proc = cli("inspect", "-i", str(inv), "-l", "web", "--fast", "--json", "-", tmp_path=tmp_path)
    assert proc.returncode == 3
    data = json.loads(proc.stdout)
    assert data["kind"] == "survey" and sorted(data["hosts"]) == ["web1", "web2"]
    assert all(h["status"] == "unreachable" for h in data["hosts"].values())


def test_history_report(tmp_path):
    proc = cli("history", "--json", "-", tmp_path=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"schema_version": SCHEMA_VERSION, "kind": "history", "runs": []}


def test_exit_code_rule():
    assert fleet_exit_code([], []) == 0
    assert fleet_exit_code(["a"], ["b"]) == 1
    assert fleet_exit_code([], ["b"]) == 3


def test_short_flags_are_ansibles_and_never_collide():
    for t in PRODUCT_TASKS:
        names = [n for arg in t.get_arguments() for n in arg.names]
        assert len(names) == len(set(names)), t.name
        shorts = {n for n in names if len(n) == 1}
        assert shorts <= {"i", "l", "f"}, (t.name, shorts)
        assert "h" not in shorts
        for arg in t.get_arguments():
            if "i" in arg.names:
                assert arg.name == "inventory"
            if "l" in arg.names:
                assert arg.name == "limit"
            if "f" in arg.names:
                assert arg.name == "forks"


def test_several_inventories_with_repeated_i(tmp_path):
    a, b = tmp_path / "a.yml", tmp_path / "b.ini"
    a.write_text(f"web:\n  hosts:\n    web1: {{ansible_host: 127.0.0.1, ansible_port: {closed_port()}}}\n")
    b.write_text(f"[db]\ndb1 ansible_host=127.0.0.1 ansible_port={closed_port()}\n")
    proc = cli("inspect", "-i", str(a), "-i", str(b), "-l", "web:db", "--fast", "--json", "-", tmp_path=tmp_path)
    assert sorted(json.loads(proc.stdout)["hosts"]) == ["db1", "web1"]


def test_docs_page_has_a_versioned_example_of_every_report_kind():
    import re

    text = (ROOT / "docs" / "json-reports.md").read_text()
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    kinds = {e["kind"] for e in examples}
    assert kinds == {"inspect", "survey", "plan", "remediate", "verify", "rollout", "rollback", "history", "audit"}
    assert all(e["schema_version"] == SCHEMA_VERSION and list(e)[:2] == ["schema_version", "kind"] for e in examples)
    for e in examples:
        if "hosts" in e:
            assert isinstance(e["hosts"], dict) and all(isinstance(v, dict) and "status" in v or "name" in v
                                                        for v in e["hosts"].values())
