"""Containers whose code is baked into an image, on their own hosts beside a running lab
(lab/baked.py: namespaces rmimg-*, 10.77.0.230-239, databases rmimg_*): a service built from a
context on the host is patched there, rebuilt, checked in a container of the new image, recreated,
and rolled back to the exact old image id; a pulled image is refused before any write.

Judged from outside the tool: `ps` in the container, the app's own DB connection id over 30
requests, the context's files by sha256, and the image id the engine says the container runs.
"""
from __future__ import annotations

import shutil

import pytest
from labtools import QUICK_REQUESTS, invoke, playbook_variant, tree_snapshot
from test_variety import connection_ids

from lab import baked

pytestmark = pytest.mark.lab
REQUESTS = 30


def state(spec) -> dict:
    return {"files": tree_snapshot(spec.dir / "srv" / "app"), "image": baked.image_id(spec),
            "ids": connection_ids(spec, REQUESTS), "ps": baked.worker_processes(spec)}


@pytest.fixture(scope="module")
def hosts(fleet, tmp_path_factory):
    """The two hosts beside the main lab (`fleet` brings it up, or uses it as it is with
    REMEDIATION_LAB_AS_IS=1): its bridge, databases and proxy serve them."""
    specs = {"built": baked.spec(1, "baked-build"), "pulled": baked.spec(2, "pulled", container_path="/code")}
    try:
        for spec in specs.values():
            baked.create(spec)
        inventory = str(baked.write_inventory(list(specs.values())))
        playbook = str(playbook_variant(tmp_path_factory.mktemp("baked-playbooks"), "quick", QUICK_REQUESTS))
        yield specs, inventory, playbook, tmp_path_factory.mktemp("baked-runs")
    finally:
        for spec in specs.values():
            baked.destroy(spec)
        shutil.rmtree(baked.ROOT, ignore_errors=True)


def test_a_built_image_is_rebuilt_then_rolled_back_to_the_same_image_id(hosts):
    specs, inventory, playbook, runs = hosts
    spec = specs["built"]
    before = state(spec)
    assert len(set(before["ids"])) == REQUESTS  # gevent: a new connection per request
    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    after = state(spec)
    assert after["image"] != before["image"]
    assert len(set(after["ids"])) <= 2 * 8, after["ids"]
    workers = [line.split() for line in after["ps"].splitlines()[1:] if "gunicorn" in line]
    assert len(workers) == 3 and all(int(w[1]) > 1 for w in workers[1:]), after["ps"]  # gthread: threads
    rc, _report, err = invoke("rollback", "--host", spec.name, "--run", report["run_id"], "-i", inventory, "--yes",
                              "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    restored = state(spec)
    assert restored["files"] == before["files"]
    assert restored["image"] == before["image"]
    assert len(set(restored["ids"])) == REQUESTS


def test_a_context_changed_since_the_build_is_refused_before_any_write(hosts):
    specs, inventory, playbook, runs = hosts
    spec = specs["built"]
    settings = spec.dir / "srv" / "app" / "schoolsite" / "settings.py"
    original = settings.read_bytes()
    settings.write_bytes(original + b"# edited after the build\n")
    try:
        before = state(spec)
        rc, report, _err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                                  "--json", "-", runs_dir=runs)
        run = report["hosts"][spec.name]
        assert rc != 0 and run["status"] == "refused" and "not what the running image holds" in run["error"], run
        assert run["changes"] == [] and tree_snapshot(spec.dir / "srv" / "app") == before["files"]
    finally:
        settings.write_bytes(original)


def test_a_pulled_image_is_refused_before_any_write(hosts):
    specs, inventory, playbook, runs = hosts
    spec = specs["pulled"]
    before = state(spec)
    rc, report, _err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                              "--json", "-", runs_dir=runs)
    run = report["hosts"][spec.name]
    assert rc != 0 and run["status"] == "refused" and "audit --path" in run["error"], run
    after = state(spec)
    assert run["changes"] == [] and after["files"] == before["files"] and after["image"] == before["image"]
