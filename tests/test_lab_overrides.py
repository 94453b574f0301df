"""The manager's own override and files outside the app dir on real managers (#23, items 2-3):

- a systemd host whose vendor unit (/lib/systemd/system) sets nothing the fix needs, its
  DB_CONN_MAX_AGE from systemd's manager environment and its settings module outside the app dir
  on the unit's PYTHONPATH (lab/vendor_unit.py): the tool creates the drop-in
  /etc/systemd/system/schoolsite.service.d/50-remediation.conf and patches the outside settings
  file; systemd itself (`systemctl show -p Environment,DropInPaths`) shows the drop-in and its
  value after the run and neither after the rollback, which leaves the host byte-identical
  (the drop-in's directory gone too);
- a compose project whose directory is not its compose file's (lab/compose_project_dir.py): the
  `.env` compose reads from the project directory is patched (docker-compose's own `config` on
  the host is the oracle), the `.env` beside the compose file left alone.

Reuse is judged from outside the tool: the app's own DB connection ids over 30 requests. The two
hosts come up in parallel.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from labtools import QUICK_REQUESTS, invoke, playbook_variant, tree_snapshot
from test_variety import connection_ids

from lab import compose_project_dir, lab, variety_hosts, vendor_unit
from lab import inventory as lab_inventory

pytestmark = pytest.mark.lab
REQUESTS = 30
DROPIN = "/etc/systemd/system/schoolsite.service.d/50-remediation.conf"


@pytest.fixture(scope="module")
def hosts(fleet, tmp_path_factory):
    systemd, compose = vendor_unit.spec(), compose_project_dir.spec()
    try:
        with ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(vendor_unit.create, systemd), pool.submit(compose_project_dir.create, compose)]:
                done.result()
        directory = tmp_path_factory.mktemp("overrides")
        known = directory / "known_hosts"
        known.write_text("".join(lab.host_key_line(s) for s in (systemd, compose)))
        data = {"all": {"vars": lab_inventory.fleet_vars(known),
                        "hosts": {systemd.name: variety_hosts.host_vars(systemd),
                                  compose.name: compose_project_dir.host_vars(compose)}}}
        inventory = directory / "inventory.yml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        playbook = str(playbook_variant(directory, "quick", QUICK_REQUESTS))
        yield systemd, compose, str(inventory), playbook, directory / "runs"
    finally:
        vendor_unit.destroy(systemd)
        compose_project_dir.destroy(compose)


def remediate(spec, inventory, playbook, runs) -> dict:
    rc, report, err = invoke("remediate", "--host", spec.name, "-i", inventory, "--playbook", playbook, "--yes",
                             "--json", "-", runs_dir=runs)
    assert report is not None, err[-2000:]
    run = report["hosts"][spec.name]
    print(f"\n{spec.name}: {run['status']} {run.get('error')}\nchanges: {run['changes']}\n"
          f"warnings: {run['warnings']}\nafter: {run['after']}")
    assert rc == 0 and run["status"] == "remediated", (run.get("error"), err[-1500:])
    return report


def rollback(spec, inventory, report, runs) -> None:
    rc, _rolled, err = invoke("rollback", "--host", spec.name, "--run", report["run_id"], "-i", inventory, "--yes",
                              "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]


def test_a_vendor_unit_gets_a_dropin_and_the_settings_on_pythonpath_are_patched(hosts):
    spec, _compose, inventory, playbook, runs = hosts
    roots = (spec.dir / "etc-systemd-system", spec.dir / vendor_unit.VENDOR_DIR, spec.dir / "srv")
    before = tree_snapshot(*roots)
    shown = vendor_unit.systemctl_show(spec)
    print("\nsystemctl show before:", shown)
    assert shown["FragmentPath"].endswith("/lib/systemd/system/schoolsite.service") and not shown["DropInPaths"]
    assert len(set(connection_ids(spec, REQUESTS))) == REQUESTS  # gevent: a new connection per request
    rc, state, err = invoke("inspect", "--host", spec.name, "-i", inventory, "--json", "-", runs_dir=runs)
    assert rc == 0, err[-1500:]
    print("\ninspect sources:", state["sources"])
    site = f"/srv/site-config/{vendor_unit.SETTINGS}.py"
    assert any(s["file"] == site for s in state["sources"] if s["setting"].startswith("CONN_")), state["sources"]
    assert any(s["file"] == DROPIN and s["action"] == "patch" for s in state["sources"]), state["sources"]

    report = remediate(spec, inventory, playbook, runs)
    changes = {c["path"]: c for c in report["hosts"][spec.name]["changes"]}
    assert changes[DROPIN]["created"] and changes[DROPIN]["created_dirs"] == [DROPIN.rsplit("/", 1)[0]]
    # the settings file outside the app dir: backed up on the host, changed
    assert changes[site]["backup"] and changes[site]["sha256_before"] != changes[site]["sha256_after"]
    shown = vendor_unit.systemctl_show(spec)
    print("systemctl show after remediate:", shown)
    assert shown["DropInPaths"] == DROPIN and "DB_CONN_MAX_AGE=600" in shown["Environment"].split()
    assert len(set(connection_ids(spec, REQUESTS))) <= 2 * 8  # reuse, seen from the app's own connection ids

    rollback(spec, inventory, report, runs)
    shown = vendor_unit.systemctl_show(spec)
    print("systemctl show after rollback:", shown)
    assert not shown["DropInPaths"] and "DB_CONN_MAX_AGE" not in shown["Environment"]
    assert tree_snapshot(*roots) == before  # byte-identical, the drop-in and its directory gone
    assert len(set(connection_ids(spec, REQUESTS))) == REQUESTS  # the old state serves again


def test_the_dotenv_of_the_project_directory_is_the_one_patched(hosts):
    _systemd, spec, inventory, playbook, runs = hosts
    app = spec.dir / "srv" / "app"
    before = tree_snapshot(app)
    config = yaml.safe_load(compose_project_dir.compose_config(spec))
    print("\ndocker-compose config before:", config["services"]["web"]["environment"])
    assert config["services"]["web"]["environment"]["DB_CONN_MAX_AGE"] == "0"  # from /srv/app/.env, not deploy/.env
    assert len(set(connection_ids(spec, REQUESTS))) == REQUESTS
    report = remediate(spec, inventory, playbook, runs)
    paths = {c["path"] for c in report["hosts"][spec.name]["changes"]}
    assert "/srv/app/.env" in paths and "/srv/app/deploy/.env" not in paths, paths
    config = yaml.safe_load(compose_project_dir.compose_config(spec))
    print("docker-compose config after:", config["services"]["web"]["environment"])
    assert config["services"]["web"]["environment"]["DB_CONN_MAX_AGE"] == "600"
    assert len(set(connection_ids(spec, REQUESTS))) <= 2 * 8
    rollback(spec, inventory, report, runs)
    assert tree_snapshot(app) == before
    assert yaml.safe_load(compose_project_dir.compose_config(spec))["services"]["web"]["environment"][
        "DB_CONN_MAX_AGE"] == "0"
    assert len(set(connection_ids(spec, REQUESTS))) == REQUESTS
