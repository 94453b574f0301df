"""`invoke bench --quick --json -` end to end on the lab (runs after the other lab tests: it
grows the lab to 10 hosts). Asserts the schema and the counts, never a duration."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = [pytest.mark.lab, pytest.mark.bench]
ROOT = Path(__file__).resolve().parents[1]
KEYS = {"inspect_hosts", "inspect_s", "ssh_connections_per_host", "controller_rss_mb", "rollout_hosts", "rollout_s",
        "ansible_s", "ratio_vs_ansible", "overhead_s_per_batch", "acquire_ms_p95_before", "acquire_ms_p95_after",
        "new_db_connections_per_100_before", "new_db_connections_per_100_after"}


def test_bench_quick_prints_the_headline(fleet):
    results_md = ROOT / "bench" / "results.md"
    before = results_md.read_bytes() if results_md.exists() else None
    proc = subprocess.run([sys.executable, "-m", "invoke", "bench", "--quick", "--json", "-"], cwd=ROOT,
                          capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    headline = json.loads(proc.stdout)  # nothing but the JSON on stdout
    assert set(headline) == KEYS
    assert headline["inspect_hosts"] == 10 and headline["rollout_hosts"] == 10
    assert headline["ssh_connections_per_host"] == 1  # counted by each host's sshd
    for key in KEYS - {"ssh_connections_per_host"}:
        assert isinstance(headline[key], (int, float)) and headline[key] >= 0, key
    # gevent: every request opens a connection; gthread 2 x 8: at most one per pool thread in the
    # quick run's 20 requests per host (16 in 20 = 80 per 100; the full run's 100 requests say more)
    assert headline["new_db_connections_per_100_before"] >= 90
    assert headline["new_db_connections_per_100_after"] <= 16 * 100 / 20
    assert "rollout 10 hosts, pair 1/1, ansible" in proc.stderr  # Ansible really ran beside the tool
    assert (results_md.read_bytes() if results_md.exists() else None) == before  # --quick writes no results.md
