"""Fleet inspect (`inspect --limit`) on the lab: one line per host, full and --fast agree."""
from __future__ import annotations

import pytest

from labtools import invoke, snapshot

pytestmark = pytest.mark.lab

RESTART = {"supervisor": "supervisor", "compose": "docker-compose"}


@pytest.mark.parametrize("fast", [False, True], ids=["app", "fast"])
def test_fleet_inspect_sees_every_broken_host(fleet, runs_dir, fast):
    names = [name for name in fleet.specs if name not in fleet.skipped]
    before = {name: snapshot(fleet.specs[name]) for name in names}
    rc, data, err = invoke("inspect", "--limit", ":".join(names), "--json", "-", *(["--fast"] if fast else []),
                           runs_dir=runs_dir)
    assert rc == 0, err
    rows = data["hosts"]  # keyed by host name, as in every report
    assert sorted(rows) == sorted(names) and data["summary"]["needs-change"] == len(names)
    for name in names:
        spec, row = fleet.specs[name], rows[name]
        assert row["status"] == "needs-change", row
        assert row["value_source"] == ("static" if fast else "app")
        assert row["values"]["worker_class"].strip("'\"") == "gevent"
        assert row["values"]["workers"] == "2"
        assert row["restart"] == RESTART[spec.restart]
        assert row["live_workers"] == 2 and all(t >= 1 for t in row["live_threads"])
        assert any("worker_class" in change and "gthread" in change for change in row["changes"])
        assert row["round_trips"] <= 5  # connect + probe + reads (+ introspection)
    assert {name: snapshot(fleet.specs[name]) for name in names} == before  # inspect changes nothing


def test_fleet_inspect_names_unreachable_hosts(fleet, runs_dir, tmp_path):
    from labtools import inventory_with

    inv = inventory_with(tmp_path, "lab2", ansible_host="10.77.0.250", ansible_port=22)
    rc, data, err = invoke("inspect", "--limit", "lab1:lab2", "--inventory", str(inv), "--fast", "--json", "-",
                           runs_dir=runs_dir)
    assert rc == 3 and "lab2" in err.strip().splitlines()[-1] and "Traceback" not in err  # unreachable only: 3
    rows = data["hosts"]  # keyed by host name, as in every report
    assert rows["lab1"]["status"] == "needs-change" and rows["lab2"]["status"] == "unreachable"
