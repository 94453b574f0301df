"""The issue's third host (lab/src_layout.py): a compose service built from a context whose
./src is COPYed as the contents of /app, CONN_MAX_AGE from the service's `environment:` (read by
the production settings from the environment), an `env_file:`. It used to fail at
plan ("no production DATABASES setting was found in the tree"); now each value is patched where
compose takes it, the image rebuilt, and everything rolled back to the same bytes and image id.

Judged from outside the tool: the app's own DB connection ids over 30 requests, `ps` in the
container, the context's files by sha256, and the image id the engine says the container runs.
"""
from __future__ import annotations

import shutil

import pytest
from labtools import QUICK_REQUESTS, invoke, playbook_variant
from test_baked_image import REQUESTS, state  # the same judges as the baked-image hosts

from lab import baked, src_layout

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def host(fleet, tmp_path_factory):
    spec = src_layout.spec()
    try:
        src_layout.create(spec)
        inventory = str(baked.write_inventory([spec]))
        playbook = str(playbook_variant(tmp_path_factory.mktemp("src-playbooks"), "quick", QUICK_REQUESTS))
        yield spec, inventory, playbook, tmp_path_factory.mktemp("src-runs")
    finally:
        src_layout.destroy(spec)
        shutil.rmtree(baked.ROOT, ignore_errors=True)


def test_the_src_layout_is_patched_where_compose_takes_each_value(host):
    spec, inventory, playbook, runs = host
    before = state(spec)
    assert len(set(before["ids"])) == REQUESTS  # gevent: a new connection per request
    rc, shown, err = invoke("inspect", "--host", spec.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    print("\ninspect sources:", shown["sources"])
    age = [s for s in shown["sources"] if s["setting"] == "CONN_MAX_AGE" and s["action"] == "patch"]
    assert [s["file"] for s in age] == ["/srv/app/docker-compose.yml"], shown["sources"]
    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    print(f"\n{run['status']} {run.get('error')}\nchanges: {[c['path'] for c in run['changes']]}\n"
          f"warnings: {run['warnings']}\nafter: {run['after']}")
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    assert "/srv/app/docker-compose.yml" in {c["path"] for c in run["changes"]}
    assert all(not c["path"].startswith("/srv/app/docker/") for c in run["changes"])  # the image's CMD: replaced
    after = state(spec)
    assert len(set(after["ids"])) <= 2 * 8, after["ids"]  # reuse, seen from outside the tool
    workers = [line.split() for line in after["ps"].splitlines()[1:] if "gunicorn" in line]
    assert len(workers) == 3 and all(int(w[1]) > 1 for w in workers[1:]), after["ps"]  # gthread pools
    rc, _rolled, err = invoke("rollback", "--host", spec.name, "--run", report["run_id"], "-i", inventory, "--yes",
                              "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    restored = state(spec)
    assert restored["files"] == before["files"]
    assert restored["image"] == before["image"]
    assert len(set(restored["ids"])) == REQUESTS
