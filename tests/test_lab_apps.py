"""Two gunicorn apps on one host and one database, under each manager the lab runs them with:
two supervisor programs in ONE program file (lab/two_apps.py: gevent `shop`, gthread `api`) and two
instances of ONE systemd template unit (lab/template_apps.py: gevent `blue`, gthread `green`).
The gevent app is fixed, the threaded one left exactly as it was, all checked from outside the
tool: each app's own DB connection ids (from its own port), the healthy app's files byte-identical
and its master pid unchanged (from its manager), the fixed app's rollback byte-identical."""
from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest
from labtools import QUICK_REQUESTS, invoke, playbook_variant

from lab import compose_apps, template_apps, two_apps, variety_hosts

pytestmark = pytest.mark.lab
REQUESTS = 30


def connection_ids(kind, spec, app: str, requests: int = REQUESTS) -> list:
    """The DB connection (server-side id) each sequential request to `app`'s own port was served on."""
    out = []
    for _ in range(requests):
        url = f"http://{spec.address}:{kind.PORTS[app]}{variety_hosts.SILENT_PATH}"
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
            out.append(json.loads(resp.read())["db_connection_id"])
    return out


def sums(kind, spec) -> dict[str, str]:
    rels = [rel for app in kind.PORTS for rel in kind.app_files(app)] + kind.SHARED_FILES
    return {rel: hashlib.sha256((spec.dir / rel).read_bytes()).hexdigest() for rel in rels}




KINDS = {"supervisor-one-file": (two_apps, "shop", "api"), "systemd-template": (template_apps, "blue", "green"),
         "compose-one-file": (compose_apps, "shop", "api")}


@pytest.fixture(scope="module", params=list(KINDS))
def host(request, fleet, tmp_path_factory):
    kind, broken, healthy = KINDS[request.param]
    spec = kind.spec()
    try:
        kind.create(spec)
        directory = tmp_path_factory.mktemp(request.param)
        inventory = kind.write_inventory(spec, directory)
        playbook = str(playbook_variant(directory, "quick", QUICK_REQUESTS))
        yield kind, broken, healthy, spec, inventory, playbook, directory / "runs"
    finally:
        kind.destroy(spec)


def test_the_gevent_app_is_fixed_and_its_threaded_neighbour_untouched(host):
    kind, broken, healthy, spec, inventory, playbook, runs = host
    before = sums(kind, spec)
    healthy_part = kind.part(spec, healthy)  # its section / service of a file shared with the broken app
    healthy_pid = kind.master_pid(spec, healthy)
    assert len(set(connection_ids(kind, spec, broken))) == REQUESTS  # gevent: a new connection per request
    assert len(set(connection_ids(kind, spec, healthy))) <= 2 * 4  # gthread: its threads keep theirs

    rc, state, err = invoke("inspect", "--host", spec.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    names = {name.split("/")[-1].removeprefix("schoolsite@").removesuffix(".service"): name for name in state["apps"]}
    assert {short: state["apps"][name]["listen"] for short, name in names.items()} == {
        app: [f"0.0.0.0:{port}"] for app, port in kind.PORTS.items()}
    assert state["apps"][names[broken]]["effective"]["worker_class"] == "gevent"
    assert state["apps"][names[healthy]]["effective"]["worker_class"] == "gthread"

    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    print(f"\n{run['status']} {run.get('error')}\napps: { {a: r['status'] for a, r in run['apps'].items()} }\n"
          f"changes: {[c['path'] for c in run['changes']]}\nrestart: {run['restart_commands']}\n"
          f"{broken} before: {run['apps'][names[broken]]['before']}\n{broken} after: {run['apps'][names[broken]]['after']}")
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    assert {a: r["status"] for a, r in run["apps"].items()} == {names[broken]: "remediated",
                                                               names[healthy]: "unchanged"}

    # from outside the tool
    ids = connection_ids(kind, spec, broken)
    print(f"{broken}: {len(set(ids))} connection ids in {REQUESTS} requests after the fix")
    assert len(set(ids)) <= 2 * 8  # the fixed app now reuses its connections
    assert kind.master_pid(spec, healthy) == healthy_pid  # the healthy app was never restarted
    after = sums(kind, spec)
    assert {rel for rel in before if before[rel] != after[rel]} <= set(kind.app_files(broken))
    assert all(before[rel] == after[rel] for rel in kind.app_files(healthy) + kind.SHARED_FILES)
    assert kind.part(spec, healthy) == healthy_part

    rc, _rolled, err = invoke("rollback", "--host", spec.name, "--app", broken, "--run", report["run_id"], "-i",
                              inventory, "--yes", "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert sums(kind, spec) == before  # byte-identical
    assert kind.master_pid(spec, healthy) == healthy_pid
    assert len(set(connection_ids(kind, spec, broken))) == REQUESTS  # the old state serves again
