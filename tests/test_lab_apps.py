"""Several gunicorn apps on one host, on the real lab (lab/app_hosts.py): six hosts of two or three
apps, one per layout real hosts use (two supervisor programs in one file and in two files, a
supervisor group chosen by its name, two instances of one systemd template, three plain systemd
units with two broken, two services of one compose file), every app of a host on ONE database and
role. The hosts come up in parallel, then ONE fleet rollout (a canary, then batches) runs over all
of them under traffic to every app, then rollbacks of one app, of one whole host and of the rest.

Checked from outside the tool: each broken app's own DB connection ids (its own port, the app's own
view), each healthy app's files byte-identical, its part of a shared file unchanged, its master
(from its manager) never restarted and its traffic never failed; on the three-app host the shop's
new-connection count is its own while its gevent neighbour on the same database and role churns
connections under traffic; every rollback byte-identical with the old state serving again."""
from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from labtools import QUICK_REQUESTS, invoke, invoke_text, playbook_variant

from lab import app_hosts, traffic, variety_hosts

pytestmark = pytest.mark.lab
REQUESTS = 20  # sequential requests per app: a gevent app opens one connection each
REUSED = 40  # after the fix: a gthread 2 x 8 app serves them on at most its 16 threads' connections
ORDER = ["supervisor-one-file", "supervisor-group", "supervisor-two-files", "systemd-template", "compose-one-file",
         "systemd-three-units"]  # the first is the canary, then batches of 2 and the rest
SERIAL = "1,2,100%"
SHARED_DB = ("systemd-three-units", "shop", "admin")  # (host, app measured, its gevent neighbour under traffic)


def connection_ids(spec, port: int, requests: int = REQUESTS) -> list:
    """The DB connection (server-side id) each sequential request to one app's port was served on."""
    out = []
    for _ in range(requests):
        with urllib.request.urlopen(f"http://{spec.address}:{port}{variety_hosts.SILENT_PATH}",  # noqa: S310
                                    timeout=30) as resp:
            out.append(json.loads(resp.read())["db_connection_id"])
    return out


def sums(host, spec) -> dict[str, str]:
    rels = {rel for app in host.apps for rel in host.app_files(app)} | set(host.shared_files)
    return {rel: hashlib.sha256((spec.dir / rel).read_bytes()).hexdigest() for rel in sorted(rels)}


def each(fn, items: list) -> list:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda item: fn(*item), items))


def broken_ids(hosts: dict, requests: int = REQUESTS) -> dict:
    """Every broken app's connection ids, all apps at once: (host key, app) -> distinct ids."""
    pairs = [(key, app) for key, (host, _s) in hosts.items() for app in host.broken]
    found = each(lambda key, app: len(set(connection_ids(hosts[key][1], hosts[key][0].ports[app], requests))), pairs)
    return dict(zip(pairs, found, strict=True))


def state(hosts: dict) -> dict:
    """What must not change on a healthy app: the host's files, the healthy apps' parts and masters."""
    return {key: {"sums": sums(host, spec), "parts": {a: host.part(spec, a) for a in host.healthy},
                  "pids": {a: host.master_pid(spec, a) for a in host.healthy}}
            for key, (host, spec) in hosts.items()}


@pytest.fixture(scope="module")
def multi(fleet, tmp_path_factory):
    started = time.monotonic()
    hosts = {key: (app_hosts.HOSTS[key], app_hosts.HOSTS[key].spec()) for key in ORDER}
    try:
        failures = app_hosts.up([h for h, _s in hosts.values()])
        assert not failures, failures
        up = time.monotonic() - started
        directory = tmp_path_factory.mktemp("multi-apps")
        inventory = app_hosts.write_inventory({s.name: (s, h.host_vars(s)) for h, s in hosts.values()}, directory)
        playbook = str(playbook_variant(directory, "quick", QUICK_REQUESTS))
        print(f"\n{len(hosts)} multi-app hosts up in {up:.0f} s")
        yield {"hosts": hosts, "inventory": inventory, "playbook": playbook, "runs": directory / "runs",
               "started": started}
    finally:
        each(lambda _h, s: app_hosts.destroy(s), list(hosts.values()))
        print(f"multi-app hosts: {time.monotonic() - started:.0f} s from the first create to the last destroy")


def test_a_multi_app_fleet_rollout_fixes_each_broken_app_and_leaves_each_healthy_one_alone(multi):
    hosts, inventory, runs = multi["hosts"], multi["inventory"], multi["runs"]
    spec = {key: s for key, (_h, s) in hosts.items()}
    before = state(hosts)
    ids = broken_ids(hosts)
    assert all(n == REQUESTS for n in ids.values()), ids  # gevent: a new connection per request
    healthy = each(lambda key, app: len(set(connection_ids(spec[key], hosts[key][0].ports[app]))),
                   [(k, a) for k, (h, _s) in hosts.items() for a in h.healthy])
    assert all(n <= 2 * 4 for n in healthy), healthy  # gthread 2 x 4: its threads keep theirs

    # the README's multi-app inspect, from this run
    three = spec["systemd-three-units"]
    shown = invoke_text("inspect", "--host", three.name, "-i", inventory, runs_dir=runs)
    print(f"\n$ invoke inspect --host {three.name}\n{shown.stdout}")
    assert shown.returncode == 0, shown.stderr[-1500:]
    rc, inspected, err = invoke("inspect", "--host", three.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert {name: view["listen"] for name, view in inspected["apps"].items()} == {
        "shop.service": ["0.0.0.0:8000"], "admin.service": ["0.0.0.0:8002"], "api.service": ["0.0.0.0:8001"]}
    assert {name: view["effective"]["worker_class"] for name, view in inspected["apps"].items()} == {
        "shop.service": "gevent", "admin.service": "gevent", "api.service": "gthread"}

    # one rollout over every host, traffic to every app (the shop of the shared-DB host left to the tool's
    # own timed requests, its gevent neighbour under three clients)
    key, measured, neighbour = SHARED_DB
    urls = {f"{k}/{app}": f"http://{s.address}:{port}{variety_hosts.SILENT_PATH}"
            for k, (h, s) in hosts.items() for app, port in h.ports.items() if (k, app) != (key, measured)}
    urls.update({f"{key}/{neighbour}#{n}": urls[f"{key}/{neighbour}"] for n in (2, 3)})
    rolled = time.monotonic()
    with traffic.Traffic(urls, seconds=600, max_requests=4000, pause=0.05) as load:
        rc, report, err = invoke("rollout", "-l", "all", "-i", inventory, "--playbook", multi["playbook"],
                                 "--serial", SERIAL, "-f", "6", "--max-fail-percentage", "0", "--yes", "--json", "-",
                                 runs_dir=runs)
    print(f"rollout over {len(hosts)} hosts in {time.monotonic() - rolled:.0f} s")
    assert report is not None, err[-2000:]
    for key_, (_h, s) in hosts.items():
        run = report["hosts"][s.name]
        print(f"  {s.name} {key_}: {run['status']} " + ", ".join(
            f"{a} {r['status']} new DB conns {(r.get('before') or {}).get('new_db_connections')} -> "
            f"{(r.get('after') or {}).get('new_db_connections')} (server {(r.get('before') or {}).get('server_new_connections')}"
            f" -> {(r.get('after') or {}).get('server_new_connections')})" for a, r in run["apps"].items())
            + (f" {run.get('error')}" if run.get("error") else ""))
    assert rc == 0, err[-2000:]
    assert report["batches"] == [[spec[k].name for k in part] for part in (ORDER[:1], ORDER[1:3], ORDER[3:])]
    for key_, (h, s) in hosts.items():
        run = report["hosts"][s.name]
        assert run["status"] == "remediated" and run["skipped"] == {}, (key_, run.get("error"))
        assert {a: r["status"] for a, r in run["apps"].items()} == {
            **{h.name(a): "remediated" for a in h.broken}, **{h.name(a): "unchanged" for a in h.healthy}}, key_

    # from outside the tool
    after = state(hosts)
    fixed = broken_ids(hosts, REUSED)
    print(f"distinct connection ids over {REUSED} requests per broken app after: {fixed}")
    assert all(n <= 2 * 8 for n in fixed.values()), fixed  # each fixed app now reuses its own connections
    for key_, (h, _s) in hosts.items():
        b, a = before[key_], after[key_]
        assert a["pids"] == b["pids"], key_  # no healthy app was restarted
        assert a["parts"] == b["parts"], key_  # nor its part of a shared file changed
        changed = {rel for rel in b["sums"] if b["sums"][rel] != a["sums"][rel]}
        assert changed and changed <= {rel for app in h.broken for rel in h.app_files(app)}, (key_, changed)
        for app in h.healthy:
            assert load.hosts[f"{key_}/{app}"].statuses.keys() == {200}, (key_, app, load.hosts[f"{key_}/{app}"])

    # two apps on one database and role: the shop's count is its own workers', never its neighbour's
    shop = report["hosts"][spec[key].name]["apps"][hosts[key][0].name(measured)]
    assert load.hosts[f"{key}/{neighbour}"].sent > 0
    assert shop["before"]["new_db_connections"] <= QUICK_REQUESTS  # gevent: one per timed request, its own
    assert shop["before"]["server_new_connections"] >= shop["before"]["new_db_connections"] + 3  # + the neighbour's
    assert shop["after"]["new_db_connections"] <= 2 * 8

    # verify without --app measures every app of the host, each on its own port
    two = spec["supervisor-two-files"]
    rc, verified, err = invoke("verify", "--host", two.name, "-i", inventory, "--playbook", multi["playbook"],
                               "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert {a: (v["metrics"]["worker_class"], v["url"].split("/")[2].rsplit(":", 1)[1])
            for a, v in verified["apps"].items()} == {"shop": ("gthread", "8000"), "api": ("gthread", "8001")}
    assert verified["apps"]["shop"]["metrics"]["new_db_connections"] <= 2 * 8

    # rollback: one app of a host, one whole host, then the rest of the run
    run_id = report["run_id"]
    one = spec["supervisor-one-file"]
    rc, _r, err = invoke("rollback", "--host", one.name, "--app", "shop", "--run", run_id, "-i", inventory, "--yes",
                         "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert sums(*hosts["supervisor-one-file"]) == before["supervisor-one-file"]["sums"]
    rc, _r, err = invoke("rollback", "--host", three.name, "--run", run_id, "-i", inventory, "--yes", "--json", "-",
                         runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert sums(*hosts["systemd-three-units"]) == before["systemd-three-units"]["sums"]
    rc, rest, err = invoke("rollback", "--run", run_id, "-i", inventory, "--yes", "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    assert {rest["hosts"][s.name]["status"] for k, s in spec.items()
            if k not in ("supervisor-one-file", "systemd-three-units")} == {"rolled_back"}
    assert rest["hosts"][one.name]["status"] == rest["hosts"][three.name]["status"] == "nothing_to_roll_back"
    final = state(hosts)
    for key_ in hosts:
        assert final[key_]["sums"] == before[key_]["sums"], key_  # byte-identical
        assert final[key_]["pids"] == before[key_]["pids"], key_  # the healthy apps still never restarted
    assert all(n == REQUESTS for n in broken_ids(hosts).values())  # the old state serves again
    print(f"multi-app test: {time.monotonic() - multi['started']:.0f} s since the first create")
