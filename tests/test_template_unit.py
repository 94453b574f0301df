"""A systemd template unit's instance configured as real servers leave it (lab/template_unit.py):
the unit's files, environment file and specifiers from systemd itself (`systemctl show`), the
variable that picks the worker class patched in the optional EnvironmentFile= that sets it, the
gunicorn config outside the app dir patched, no log but the journal, reuse from the host's count."""
from __future__ import annotations

import hashlib

import pytest
from labtools import QUICK_REQUESTS, invoke, playbook_variant
from test_variety import connection_ids

from lab import template_unit

pytestmark = pytest.mark.lab
REQUESTS = 30


def sums(spec) -> dict[str, str]:
    return {rel: hashlib.sha256((spec.dir / rel).read_bytes()).hexdigest() for rel in template_unit.files(spec)}


@pytest.fixture(scope="module")
def host(fleet, tmp_path_factory):
    spec = template_unit.spec()
    try:
        template_unit.create(spec)
        directory = tmp_path_factory.mktemp("template-unit")
        inventory = template_unit.write_inventory(spec, directory)
        playbook = str(playbook_variant(directory, "quick", QUICK_REQUESTS))
        yield spec, inventory, playbook, directory / "runs"
    finally:
        template_unit.destroy(spec)


def test_a_template_instance_is_patched_where_systemd_loads_it(host):
    spec, inventory, playbook, runs = host
    before = sums(spec)
    assert len(set(connection_ids(spec, REQUESTS))) == REQUESTS  # gevent: a new connection per request
    rc, state, err = invoke("inspect", "--host", spec.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    print("\ninspect sources:", state["sources"])
    winner = [s for s in state["sources"] if s["setting"] == "worker_class" and s["action"] == "patch"]
    assert [s["file"] for s in winner] == [f"/etc/default/schoolsite-{template_unit.INSTANCE}"], state["sources"]
    threads = [s for s in state["sources"] if s["setting"] == "threads"]
    assert any(s["file"] == f"/srv/gunicorn/{template_unit.INSTANCE}.conf.py" for s in threads), state["sources"]
    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    print(f"\n{run['status']} {run.get('error')}\nchanges: {[c['path'] for c in run['changes']]}\n"
          f"warnings: {run['warnings']}\nafter: {run['after']}")
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    # journal-only logging: the restarted master's own lines, read by unit and _PID, carry its
    # `Using worker` line (evidence agreeing with the process proof: no warning about the log)
    assert not [w for w in run["warnings"] if "Using worker" in w or "journal of" in w], run["warnings"]
    assert {c["path"] for c in run["changes"]} >= {f"/etc/default/schoolsite-{template_unit.INSTANCE}",
                                                   f"/srv/gunicorn/{template_unit.INSTANCE}.conf.py"}
    assert len(set(connection_ids(spec, REQUESTS))) <= 2 * 8  # reuse, seen from outside the tool
    rc, _rolled, err = invoke("rollback", "--host", spec.name, "--run", report["run_id"], "-i", inventory, "--yes",
                              "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert sums(spec) == before
    assert len(set(connection_ids(spec, REQUESTS))) == REQUESTS  # the old state serves again
