"""The host agent payload (transport/payload.py): one stdlib-only script assembled from the agent's
parts and each registered manager's probe, the same bytes every time, and it runs on its own."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from remediation import managers
from remediation.transport import payload


def test_the_payload_is_deterministic_across_processes():
    code = "from remediation.transport import payload; print(payload.digest())"
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout.strip() for seed in ("1", "2")}
    assert digests == {payload.digest()}


def test_every_registered_managers_probe_is_in_it_once():
    text = payload.source()
    probes = [m.PROBE for m in managers.REGISTRY if m.PROBE]
    assert {"remediation.managers.compose.probe", "remediation.managers.supervisor.probe",
            "remediation.managers.systemd.probe", "remediation.managers.podman.probe"} <= set(probes)
    for probe in set(probes):
        assert text.count(f"# ---- {probe}\n") == 1
    agent = payload.load()  # and each probe registered what it adds
    assert {f.__name__ for f in agent.MASTER_PROBES} == {"probe_container", "probe_supervisor", "probe_systemd",
                                                          "probe_podman"}
    assert set(agent.LOG_KINDS) == {"docker", "journal", "podman"}
    assert "supervisor_restart" in agent.OPS


def test_it_imports_only_the_standard_library_and_parses_as_python_3_6():
    tree = ast.parse(payload.source(), feature_version=(3, 6))  # a host's own python3 may be old
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported and imported <= set(sys.stdlib_module_names)


def test_the_assembled_agent_runs_standalone(tmp_path):
    """`python3 -I` (no site, no current directory on the path) in an empty directory, as a host
    runs it: a lock and an unlock, a file read, a probe, one JSON reply each, in --serve mode."""
    script = tmp_path / "agent.py"
    script.write_text(payload.source())
    target = tmp_path / "f.txt"
    target.write_bytes(b"hello\n")
    requests = [{"ops": [{"op": "lock", "run_id": "r1", "path": str(tmp_path / "lock")},
                         {"op": "read", "paths": [str(target)]}]},
                {"ops": [{"op": "probe"}, {"op": "unlock", "run_id": "r1", "path": str(tmp_path / "lock")}]}]
    work = tmp_path / "empty"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-I", str(script), "--serve"], cwd=work, capture_output=True, timeout=60,
                          input="".join(json.dumps(r) + "\n" for r in requests).encode(), env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr.decode()
    first, second = (json.loads(line)["replies"] for line in proc.stdout.decode().splitlines())
    assert first[0] == {"ok": True}
    assert first[1]["files"][0]["sha256"] == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert isinstance(second[0]["masters"], list) and "compose_clis" in second[0]
    assert second[1]["ok"] is True and second[1]["held"] is True


def test_a_part_importing_the_product_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "badpart.py"
    bad.write_text("from remediation.model import Target\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="imports only other parts"):
        payload.part_source("badpart", frozenset({"remediation.agent.core"}))
