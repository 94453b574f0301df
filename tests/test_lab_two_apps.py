"""Two gunicorn apps under one supervisord, in ONE program file, on one database (lab/two_apps.py):
the gevent `shop` is fixed, the threaded `api` left exactly as it was, all checked from outside the
tool: each app's own DB connection ids (from its own port), the api's files byte-identical and its
master pid unchanged, the shop's rollback byte-identical."""
from __future__ import annotations

import configparser
import hashlib
import json
import urllib.request

import pytest
from labtools import QUICK_REQUESTS, invoke, playbook_variant

from lab import two_apps, variety_hosts

pytestmark = pytest.mark.lab
REQUESTS = 30


def connection_ids(spec, app: str, requests: int = REQUESTS) -> list:
    """The DB connection (server-side id) each sequential request to `app`'s own port was served on."""
    out = []
    for _ in range(requests):
        url = f"http://{spec.address}:{two_apps.PORTS[app]}{variety_hosts.SILENT_PATH}"
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
            out.append(json.loads(resp.read())["db_connection_id"])
    return out


def sums(spec) -> dict[str, str]:
    rels = two_apps.app_files("shop") + two_apps.app_files("api") + two_apps.SHARED_FILES
    return {rel: hashlib.sha256((spec.dir / rel).read_bytes()).hexdigest() for rel in rels}


def program_section(spec, name: str) -> dict:
    parser = configparser.RawConfigParser()
    parser.read_string((spec.dir / two_apps.PROGRAM_FILE).read_text())
    return dict(parser.items(f"program:{name}"))


@pytest.fixture(scope="module")
def host(fleet, tmp_path_factory):
    spec = two_apps.spec()
    try:
        two_apps.create(spec)
        directory = tmp_path_factory.mktemp("two-apps")
        inventory = two_apps.write_inventory(spec, directory)
        playbook = str(playbook_variant(directory, "quick", QUICK_REQUESTS))
        yield spec, inventory, playbook, directory / "runs"
    finally:
        two_apps.destroy(spec)


def test_the_gevent_app_is_fixed_and_its_threaded_neighbour_untouched(host):
    spec, inventory, playbook, runs = host
    before = sums(spec)
    api_section = program_section(spec, "api")
    api_pid = two_apps.master_pid(spec, "api")
    assert len(set(connection_ids(spec, "shop"))) == REQUESTS  # gevent: a new connection per request
    assert len(set(connection_ids(spec, "api"))) <= 2 * 4  # gthread: its threads keep theirs

    rc, state, err = invoke("inspect", "--host", spec.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert {name: view["listen"] for name, view in state["apps"].items()} == {
        "shop": ["0.0.0.0:8000"], "api": ["0.0.0.0:8001"]}
    assert state["apps"]["shop"]["effective"]["worker_class"] == "gevent"
    assert state["apps"]["api"]["effective"]["worker_class"] == "gthread"

    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    print(f"\n{run['status']} {run.get('error')}\napps: { {a: r['status'] for a, r in run['apps'].items()} }\n"
          f"changes: {[c['path'] for c in run['changes']]}\nshop after: {run['apps']['shop']['after']}")
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    assert {a: r["status"] for a, r in run["apps"].items()} == {"shop": "remediated", "api": "unchanged"}

    # from outside the tool
    assert len(set(connection_ids(spec, "shop"))) <= 2 * 8  # the shop now reuses its connections
    assert two_apps.master_pid(spec, "api") == api_pid  # the api was never restarted
    after = sums(spec)
    assert {rel for rel in before if before[rel] != after[rel]} == {"srv/app/conf/shop.py"}
    assert program_section(spec, "api") == api_section

    rc, _rolled, err = invoke("rollback", "--host", spec.name, "--app", "shop", "--run", report["run_id"], "-i",
                              inventory, "--yes", "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert sums(spec) == before  # byte-identical
    assert two_apps.master_pid(spec, "api") == api_pid
    assert len(set(connection_ids(spec, "shop"))) == REQUESTS  # the old state serves again
