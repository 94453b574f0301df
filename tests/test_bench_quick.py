"""`invoke bench --quick --only inspect,incident --json -` end to end on the lab (runs after the
other lab tests). Asserts the schema and the counts, never a duration. The rollout section (10
hosts by the tool and by Ansible, about four minutes) is a measurement, not a check: the tool's
rollout is proven by the rollout tests, and `invoke bench --quick` measures it beside Ansible."""
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
ROLLOUT_KEYS = {"rollout_hosts", "rollout_s", "ansible_s", "ratio_vs_ansible", "overhead_s_per_batch"}


def test_bench_quick_prints_the_headline(fleet):
    """Inspect's 10 light hosts on one SSH connection each; the incident's reuse counts before and after."""
    results_md = ROOT / "bench" / "results.md"
    before = results_md.read_bytes() if results_md.exists() else None
    proc = subprocess.run([sys.executable, "-m", "invoke", "bench", "--quick", "--only", "inspect,incident",
                           "--json", "-"], cwd=ROOT, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    headline = json.loads(proc.stdout)  # nothing but the JSON on stdout
    assert set(headline) == KEYS
    assert headline["inspect_hosts"] == 10
    assert headline["ssh_connections_per_host"] == 1  # counted by each host's sshd
    assert all(headline[key] is None for key in ROLLOUT_KEYS)  # a section not measured gives None
    for key in KEYS - ROLLOUT_KEYS - {"ssh_connections_per_host"}:
        assert isinstance(headline[key], (int, float)) and headline[key] >= 0, key
    # gevent: every request opens a connection; gthread 2 x 8: at most one per pool thread in the
    # quick run's 20 requests per host (16 in 20 = 80 per 100; the full run's 100 requests say more)
    assert headline["new_db_connections_per_100_before"] >= 90
    assert headline["new_db_connections_per_100_after"] <= 16 * 100 / 20
    assert (results_md.read_bytes() if results_md.exists() else None) == before  # --quick writes no results.md
