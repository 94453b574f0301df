"""Proof that holds on a real fleet: every host on one database and role per engine, live traffic
on every host through the whole rollout, apps that log nothing, and a host planted to fail.

The varied lab's covering set, with `shared:` (lab/variety.py): the DB server's counters count
the whole fleet, so only the host-side count (the workers' own sockets to the DB) can say what
one host opened. Judged from outside the tool: the app's own DB connection ids, the files on
disk, what the traffic got back, and the DB server's counter during a window other clients churn.
"""
from __future__ import annotations

import threading

import pytest
from labtools import invoke, plant_start_failure, playbook_variant
from test_variety import (
    ORACLE_REQUESTS,
    SWITCH,
    bring_up,
    connection_ids,
    files_of,
    in_parallel,
    workers_of,
)

from lab import lab, traffic, variety_hosts

pytestmark = pytest.mark.lab

PROFILE = "shared:covering+switch"


def url_of(spec) -> str:
    path = variety_hosts.SILENT_PATH if spec.app == "own-url-silent" else variety_hosts.LOGGED_PATH
    return f"http://{spec.address}:8000{path}"


def planted_host(specs):
    """A gevent-style host the restart is planted to fail on: not in the canary batch, on Django >= 4.1 (the
    plant fires on CONN_HEALTH_CHECKS), under a plain supervisor program or compose (lab restarts)."""
    for spec in reversed(specs[3:]):
        if spec.start in SWITCH and spec.django >= (4, 1) and spec.manager != "supervisor-group" \
                and spec.container_code in ("on-host", "mounted"):
            return spec
    raise AssertionError("the draw has no host to plant the failure on")


@pytest.fixture(scope="module")
def live(fleet, tmp_path_factory):
    specs = bring_up(PROFILE)
    assert {s.db_name for s in specs} <= {"app_fleet"}
    planted = planted_host(specs)
    plant_start_failure(planted)
    runs = tmp_path_factory.mktemp("live-runs")
    playbook = playbook_variant(tmp_path_factory.mktemp("live-playbooks"), "quick", 30)
    inv = str(variety_hosts.INVENTORY_PATH)
    before = {"files": in_parallel(files_of, specs), "ids": in_parallel(connection_ids, specs)}
    _rc, before["inspect"], _err = invoke("inspect", "-l", "all", "-i", inv, "--json", "-", runs_dir=runs)
    with traffic.Traffic({s.name: url_of(s) for s in specs}, seconds=900, max_requests=5000, pause=0.05) as load:
        rc, rollout, err = invoke("rollout", "-l", "all", "-i", inv, "--playbook", str(playbook),
                                  "--serial", "3,100%", "-f", "8", "--max-fail-percentage", "40", "--yes",
                                  "--json", "-", runs_dir=runs)
    assert rollout is not None, err[-2000:]
    after = {"ids": in_parallel(connection_ids, specs)}
    _rc, after["inspect"], _err = invoke("inspect", "-l", "all", "-i", inv, "--json", "-", runs_dir=runs)
    for spec in specs:
        run = rollout["hosts"][spec.name]
        t = load.hosts[spec.name]
        print(f"  {spec.name} {spec.start:8} {run['status']:12} traffic {t.sent} sent {dict(t.statuses)} "
              f"new DB conns per 100 {run['before'].get('new_db_connections_per_100')} -> "
              f"{(run.get('after') or {}).get('new_db_connections_per_100')} {run.get('error') or ''}")
    yield {"specs": specs, "planted": planted, "runs": runs, "inv": inv, "playbook": playbook, "before": before,
           "after": after, "rollout": rollout, "rollout_rc": rc, "traffic": load}
    rb_rc, _rolled, rb_err = invoke("rollback", "-l", "all", "-i", inv, "--yes", "--json", "-", runs_dir=runs)
    restored = in_parallel(files_of, specs)
    variety_hosts.reset(specs)
    assert rb_rc == 0, rb_err[-1500:]
    for spec in specs:
        assert restored[spec.name] == before["files"][spec.name], spec.name


def test_traffic_reached_every_host_and_stopped_by_itself(live):
    load = live["traffic"]
    assert not load.running()
    for spec in live["specs"]:
        t = load.hosts[spec.name]
        # requests during a restart may fail; most are answered, and the host serves at the end
        assert t.sent >= 20 and t.statuses[200] >= 0.7 * t.sent and t.last == 200, (spec.name, t.sent, dict(t.statuses))


def test_every_eligible_host_is_remediated_under_live_traffic(live):
    """Gevent-style hosts switch and reuse connections (the app's own ids); the planted host is rolled back."""
    for spec in live["specs"]:
        run = live["rollout"]["hosts"][spec.name]
        if spec is live["planted"]:
            assert run["status"] == "rolled_back", (spec.name, run)
            assert live["after"]["ids"][spec.name] and len(set(live["after"]["ids"][spec.name])) == ORACLE_REQUESTS
        elif spec.start in SWITCH and spec.container_code != "pulled":  # a pulled image: refused (test_variety)
            assert run["status"] == "remediated", (spec.name, spec.draw, run.get("error"))
            assert len(set(live["after"]["ids"][spec.name])) <= 16, spec.name
            assert workers_of(live["after"]["inspect"], spec.name) == ("gthread", "2", "8"), spec.name


def test_no_healthy_host_is_rolled_back(live):
    for spec in live["specs"]:
        status = live["rollout"]["hosts"][spec.name]["status"]
        if spec.healthy:
            assert status in (("refused", "unchanged") if spec.container_code == "pulled" else
                              ("remediated", "unchanged")), (spec.name, status)
        elif spec.start == "asgi":
            assert status == "refused", (spec.name, status)


def test_reuse_is_proven_per_host_on_apps_that_log_nothing(live):
    """The report says how the count was taken (on the host) and gives before/after per 100 requests;
    the server's counter, shared by the whole fleet and its traffic, is only a cross-check."""
    silent = [s for s in live["specs"] if s.app == "own-url-silent" and s.start in SWITCH
              and s is not live["planted"] and s.container_code != "pulled"]
    assert silent, "the covering set has a silent gevent-style host"
    for spec in silent:
        run = live["rollout"]["hosts"][spec.name]
        before, after = run["before"], run["after"]
        assert run["status"] == "remediated", (spec.name, run.get("error"))
        assert before["db_counter_scope"] == after["db_counter_scope"] == "host", spec.name
        assert before["new_db_connections_per_100"] >= 80, (spec.name, before)
        assert after["new_db_connections"] <= 16 and after["new_db_connections_per_100"] < 40, (spec.name, after)
        assert before["acquire_ms_p50"] is None  # no acquisition line: the count alone proved reuse


def test_other_clients_do_not_pollute_a_hosts_count(live):
    """While another client opens and closes connections to the same database as the same role,
    a remediated host's own count stays at its reuse level; the server's counter sees the churn."""
    spec = next(s for s in live["specs"] if s.database == "postgres" and s.start in SWITCH
                and live["rollout"]["hosts"][s.name]["status"] == "remediated")  # remediated: files it owns
    stop = threading.Event()
    opened: list[int] = []
    churner = threading.Thread(target=lambda: opened.append(
        traffic.churn("postgres", spec.db_name, spec.db_user, variety_hosts.password(spec), stop)))
    churner.start()
    try:
        rc, report, err = invoke("verify", "--host", spec.name, "-i", live["inv"], "--playbook", str(live["playbook"]),
                                 "--json", "-", runs_dir=live["runs"])
    finally:
        stop.set()
        churner.join(60)
    assert rc == 0, err[-1500:]
    m = report["metrics"]
    print(f"\n{spec.name}: host count {m['new_db_connections']}, server count {m['server_new_connections']}, "
          f"churned {opened}")
    assert m["db_counter_scope"] == "host" and m["new_db_connections"] <= 2, m
    assert opened and opened[0] >= 10
    assert m["server_new_connections"] >= m["new_db_connections"] + 5, m
    assert lab.app_healthy(spec)
