"""Issue #22's podman host on the real lab: two Django apps in two podman containers (Debian's
podman, `podman run --restart=always`, code mounted from the host at /app): inspect finds each
app's files on the host through the container's mounts, remediate fixes the gevent app and
restarts its container only (`podman restart`), the fixed app reuses its DB connections (its own
connection ids), rollback is byte-identical and the old state serves again."""
from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request

import pytest
from labtools import QUICK_REQUESTS, invoke, playbook_variant

from lab import podman_apps, variety_hosts

pytestmark = [pytest.mark.lab, pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]
REQUESTS = 30
BROKEN, HEALTHY = "shop", "api"


def connection_ids(spec, app: str) -> list:
    """The DB connection (server-side id) each sequential request to `app` was served on (the app's own view)."""
    out = []
    for _ in range(REQUESTS):
        url = f"http://{spec.address}:{podman_apps.PORTS[app]}{variety_hosts.SILENT_PATH}"
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
            out.append(json.loads(resp.read())["db_connection_id"])
    return out


def sums(spec) -> dict[str, str]:
    rels = [rel for app in podman_apps.PORTS for rel in podman_apps.app_files(app)] + podman_apps.SHARED_FILES
    return {rel: hashlib.sha256((spec.dir / rel).read_bytes()).hexdigest() for rel in rels}


@pytest.fixture(scope="module")
def host(fleet, tmp_path_factory):
    spec = podman_apps.spec()
    try:
        podman_apps.create(spec)
        directory = tmp_path_factory.mktemp("podman")
        playbook = str(playbook_variant(directory, "quick", QUICK_REQUESTS))
        yield spec, podman_apps.write_inventory(spec, directory), playbook, directory / "runs"
    finally:
        podman_apps.destroy(spec)


def test_podman_apps_inspected_fixed_and_rolled_back(host):
    spec, inventory, playbook, runs = host
    before = sums(spec)
    healthy_part = podman_apps.part(spec, HEALTHY)
    healthy_pid = podman_apps.master_pid(spec, HEALTHY)
    broken_pid = podman_apps.master_pid(spec, BROKEN)
    assert len(set(connection_ids(spec, BROKEN))) == REQUESTS  # gevent: a new connection per request
    assert len(set(connection_ids(spec, HEALTHY))) <= 2 * 4

    rc, state, err = invoke("inspect", "--host", spec.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    print(json.dumps(state, indent=1)[:6000])
    names = {name.split("/")[-1]: name for name in state["apps"]}
    assert set(names) == set(podman_apps.PORTS), names
    shop = state["apps"][names[BROKEN]]
    assert shop["effective"]["worker_class"] == "gevent"
    assert state["apps"][names[HEALTHY]]["effective"]["worker_class"] == "gthread"
    text = json.dumps(shop)
    assert "/srv/app/conf/shop.py" in text and "/srv/app/schoolsite/settings.py" in text  # host paths, via mounts
    assert "podman" in text

    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    print(f"\n{run['status']} {run.get('error')}\napps: { {a: r['status'] for a, r in run['apps'].items()} }\n"
          f"changes: {[c['path'] for c in run['changes']]}\nrestart: {run['restart_commands']}\n"
          f"after: {run['apps'][names[BROKEN]]['after']}")
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    assert {a: r["status"] for a, r in run["apps"].items()} == {names[BROKEN]: "remediated", names[HEALTHY]: "unchanged"}
    assert {c["path"] for c in run["changes"]} <= {"/srv/app/conf/shop.py", "/srv/app/schoolsite/settings.py"}
    assert any(cmd.startswith("podman restart") for cmd in run["restart_commands"]), run["restart_commands"]

    ids = connection_ids(spec, BROKEN)  # from outside the tool: the app's own connection ids
    print(f"{BROKEN}: {len(set(ids))} connection ids in {REQUESTS} requests after the fix")
    assert len(set(ids)) <= 2 * 8
    restarted = podman_apps.master_pid(spec, BROKEN)
    assert restarted[0] == broken_pid[0] and restarted[1:] != broken_pid[1:]  # same container, restarted
    assert podman_apps.master_pid(spec, HEALTHY) == healthy_pid  # never restarted
    after = sums(spec)
    assert {rel for rel in before if before[rel] != after[rel]} <= set(podman_apps.app_files(BROKEN))
    assert podman_apps.part(spec, HEALTHY) == healthy_part

    rc, _rolled, err = invoke("rollback", "--host", spec.name, "--app", BROKEN, "--run", report["run_id"], "-i",
                              inventory, "--yes", "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert sums(spec) == before  # byte-identical
    assert podman_apps.master_pid(spec, HEALTHY) == healthy_pid
    assert len(set(connection_ids(spec, BROKEN))) == REQUESTS  # the old state serves again
