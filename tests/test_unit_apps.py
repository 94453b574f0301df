"""Several gunicorn apps on one host (remediation/apps.py, plan/neighbours.py, the per-app host
flow): against fake hosts of two apps (tests/fakeapps.py, tests/fixtures/flow/multi/).

Each case checks, from the fake host's side: which app's files changed (the other's byte-identical),
which master was restarted (the other's pid unchanged), the run's per-app statuses, and that a
rollback of one app (or of the whole host) puts the files back byte-identical.
"""
from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from fakeapps import FakeApps, FakeAppsRemote
from remediation import apps
from remediation.config.inventory import Host, Inventory
from remediation.config.playbook import load_playbook
from remediation.errors import InputError
from remediation.flow import HostFlow
from remediation.fleet.rollback import app_journals
from remediation.journal import Journal
from remediation.model import Status
from remediation.rollback import rollback_host

BACKUPS = "/var/backups/remediation/"
SHOP_FILES = ("/srv/shop/gunicorn.conf.py", "/srv/shop/shop/settings.py")
API_FILES = ("/srv/api/gunicorn.conf.py", "/srv/api/api/settings.py", "/srv/api/api/wsgi.py")
APPS_CONF = "/etc/supervisor/conf.d/apps.conf"


def run_host(fake: FakeApps, runs: Path, host_vars: dict | None = None, only: str | None = None):
    host = Host("apps1", {"remediation_verify_path": "/", **(host_vars or {})})
    journal = Journal.create("remediate", "gevent-to-gthread", [host.name], runs)
    flow = HostFlow(host, Inventory(hosts={host.name: host}), load_playbook(), journal,
                    remote_factory=FakeAppsRemote.factory(fake))
    flow.only_app = only
    return flow.execute(), journal


def files_of(fake: FakeApps) -> dict[str, bytes]:
    return {p: f.content for p, f in fake.files.items() if not p.startswith(BACKUPS)}


def changed(fake: FakeApps) -> set[str]:
    now = files_of(fake)
    return {p for p, content in now.items() if fake.first.original.get(p) != content}


def applied(app) -> int:
    """How often the app's running gunicorn was made to load its files: a restart by its manager,
    or a HUP (main's gentlest restart)."""
    return app.restarts + app.reloads


def section(text: bytes, name: str) -> dict:
    parser = configparser.RawConfigParser()
    parser.read_string(text.decode())
    return dict(parser.items(name))


# --- naming and choosing (pure) ---------------------------------------------------------------------

def test_each_master_is_an_app_named_by_its_manager_with_its_own_listening_address():
    from remediation.facts.parse import parse_probe

    fake = FakeApps("supervisor_two")
    remote = FakeAppsRemote(fake, Host("apps1")).open()
    facts = parse_probe(remote.agent({"op": "probe"})[0])
    named = apps.named(facts.masters)
    assert list(named) == ["shop", "api"]
    assert named["shop"].listen == ["0.0.0.0:8000"] and named["api"].listen == ["0.0.0.0:8001"]
    assert facts.master("api").pid == fake.pid("api")


def test_masters_of_one_name_on_one_address_in_two_network_namespaces_each_keep_a_name():
    """Seen on a host whose process table shows other namespaces' gunicorns (the same program and
    0.0.0.0:8000 in each): no master may be lost from the names, else naming it crashes."""
    from remediation.model import GunicornMaster, RestartMethod, app_names

    def master(pid: int, listen: list[str]) -> GunicornMaster:
        return GunicornMaster(pid, ["gunicorn"], "app", 1, "/srv", None, {}, [],
                              RestartMethod("supervisor", program="app"), listen=listen)

    masters = [master(10, ["0.0.0.0:8000"]), master(20, ["0.0.0.0:8000"]), master(30, ["0.0.0.0:8001"]),
               master(40, [])]
    named = app_names(masters)
    assert list(named) == ["app@pid-10", "app@pid-20", "app@0.0.0.0:8001", "app@pid-40"]
    assert [m.pid for m in named.values()] == [10, 20, 30, 40]


def test_choose_by_inventory_vars_and_app_option():
    assert apps.matches("store/web", "web") and apps.matches("app@blue.service", "app@blue")
    assert apps.matches("app@blue.service", "blue") and not apps.matches("app@blue.service", "app")
    assert not apps.matches("store/web", "store")
    names = ["shop", "api", "admin:backend", "web@blue.service"]
    assert apps.choose("h", names, {}).apps == names
    assert apps.choose("h", names, {"remediation_apps": ["shop"]}).apps == ["shop"]
    choice = apps.choose("h", names, {"remediation_skip_apps": ["api", "backend"]})
    assert choice.apps == ["shop", "web@blue.service"]
    assert choice.skipped == {"api": "excluded (remediation_skip_apps)",
                              "admin:backend": "excluded (remediation_skip_apps)"}
    assert apps.choose("h", names, {"remediation_apps": ["shop"]}, only="web@blue").apps == ["web@blue.service"]
    with pytest.raises(InputError, match="no gunicorn app named 'nope'"):
        apps.choose("h", names, {"remediation_skip_apps": ["nope"]})
    with pytest.raises(InputError, match="list of app names"):
        apps.choose("h", names, {"remediation_apps": {"shop": 1}})


def test_per_app_verify_path_wins_over_the_host_s():
    from remediation.config.playbook import load_playbook
    from remediation.plan.decide import verify_path

    host_vars = {"remediation_verify_path": "/", "remediation_verify_paths": {"api": "/api/v1/items/"}}
    assert verify_path("api", host_vars, load_playbook()) == "/api/v1/items/"
    assert verify_path("shop", host_vars, load_playbook()) == "/"
    with pytest.raises(InputError, match="remediation_verify_paths"):
        apps.check_vars("h", {"remediation_verify_paths": {"api": "no-slash"}}, "inv.yml")
    with pytest.raises(InputError, match="inv.yml: remediation_apps: host h: must be a list of app names"):
        apps.check_vars("h", {"remediation_apps": 3}, "inv.yml")
    apps.check_vars("h", {"remediation_apps": ["shop"], "remediation_skip_apps": "api",
                          "remediation_verify_paths": {"api": "/api/"}}, "inv.yml")


# --- the flow, per app ----------------------------------------------------------------------------

def test_the_broken_app_is_fixed_and_its_healthy_neighbour_left_exactly_as_it_was(tmp_path):
    fake = FakeApps("supervisor_two")
    api_pid = fake.pid("api")
    before = files_of(fake)
    run, journal = run_host(fake, tmp_path)
    assert run.status == Status.REMEDIATED, run.error
    assert {a: r["status"] for a, r in run.apps.items()} == {"shop": "remediated", "api": "unchanged"}
    assert changed(fake) == set(SHOP_FILES)
    assert all(files_of(fake)[p] == before[p] for p in API_FILES + (APPS_CONF,))
    assert fake.pid("api") == api_pid and applied(fake.apps["api"]) == 0
    assert applied(fake.apps["shop"]) == 1  # restarted, or reloaded by a HUP
    assert fake.apps["shop"].process.worker_name == "gthread"
    # verified on the shop's own port, its own count
    assert run.apps["shop"]["after"]["new_db_connections"] <= 16
    # journal: each app's events are its own; rollback of the shop alone is byte-identical
    assert {e.get("app") for e in journal.events("apps1") if e["event"] == "change-done"} == {"shop"}
    remote = FakeAppsRemote(fake, Host("apps1")).open()
    rollback_host(remote, journal.for_app("shop"), "apps1")
    assert files_of(fake) == before
    assert fake.pid("api") == api_pid and applied(fake.apps["api"]) == 0


def test_app_option_and_selection_vars(tmp_path):
    fake = FakeApps("supervisor_two")
    before = files_of(fake)
    run, _ = run_host(fake, tmp_path, only="api")  # --app api: the shop is left alone, however broken
    assert run.status == Status.UNCHANGED and run.skipped == {"shop": "not chosen (--app)"}
    assert files_of(fake) == before and applied(fake.apps["shop"]) == 0
    run, _ = run_host(fake, tmp_path, {"remediation_skip_apps": ["shop"]})
    assert run.status == Status.UNCHANGED and run.skipped == {"shop": "excluded (remediation_skip_apps)"}
    assert files_of(fake) == before
    run, _ = run_host(fake, tmp_path, only="nope")
    assert run.status == Status.REFUSED and "no gunicorn app named 'nope'" in run.error
    assert files_of(fake) == before


def test_a_program_command_line_in_a_shared_file_is_patched_in_its_own_section_only(tmp_path):
    conf = (Path(__file__).parent / "fixtures/flow/multi/supervisor_two/files" / APPS_CONF.lstrip("/")).read_text()
    conf = conf.replace("/srv/shop/gunicorn.conf.py shop.wsgi", "/srv/shop/gunicorn.conf.py -k gevent shop.wsgi")
    fake = FakeApps("supervisor_two", files={APPS_CONF: conf})
    before, api_pid = files_of(fake), fake.pid("api")
    run, journal = run_host(fake, tmp_path)
    assert run.status == Status.REMEDIATED, run.error
    assert APPS_CONF in changed(fake)
    now = files_of(fake)[APPS_CONF]
    assert section(now, "program:api") == section(before[APPS_CONF], "program:api")
    assert "-k gthread" in section(now, "program:shop")["command"]
    assert fake.pid("api") == api_pid and applied(fake.apps["api"]) == 0
    assert any(row["path"] == APPS_CONF and row["neighbour"] == "api" for row in run.shared)
    rollback_host(FakeAppsRemote(fake, Host("apps1")).open(), journal.for_app("shop"), "apps1")
    assert files_of(fake) == before and fake.pid("api") == api_pid


def test_whole_host_rollback_undoes_each_app_it_changed(tmp_path):
    fake = FakeApps("supervisor_shared")
    before = files_of(fake)
    run, journal = run_host(fake, tmp_path)
    assert {a: r["status"] for a, r in run.apps.items()} == {"shop": "remediated", "api": "remediated"}
    assert [j.app for j in app_journals(journal, "apps1")] == ["shop"]  # api only restarted: no file of its own
    remote = FakeAppsRemote(fake, Host("apps1")).open()
    for each in app_journals(journal, "apps1"):
        rollback_host(remote, each, "apps1")
    assert files_of(fake) == before


# --- one settings module imported by two apps -----------------------------------------------------------

def test_shared_settings_both_apps_need_it_both_fixed(tmp_path):
    """site.settings lacks health checks: the gthread api needs them too. The shop's fix writes the
    shared module; the api, chosen in the same run, then only needs its restart."""
    fake = FakeApps("supervisor_shared")
    run, journal = run_host(fake, tmp_path)
    assert run.status == Status.REMEDIATED, run.error
    assert applied(fake.apps["api"]) == 1 and applied(fake.apps["shop"]) == 1
    assert any(e["event"] == "restart-only" and e.get("app") == "api" for e in journal.events("apps1"))
    assert fake.apps["api"].process.view["databases"]["default"]["CONN_HEALTH_CHECKS"] is True
    # the api's own sizing is its owner's: never touched
    assert files_of(fake)["/srv/site/api.conf.py"] == fake.first.original["/srv/site/api.conf.py"]


def test_shared_settings_with_a_threaded_neighbour_left_alone_is_changed_and_reported(tmp_path):
    fake = FakeApps("supervisor_shared")
    api_pid = fake.pid("api")
    run, _ = run_host(fake, tmp_path, {"remediation_skip_apps": ["api"]})
    assert run.status == Status.REMEDIATED, run.error
    assert "/srv/site/portal/settings.py" in changed(fake)
    assert fake.pid("api") == api_pid and applied(fake.apps["api"]) == 0
    row = next(r for r in run.shared if r["path"] == "/srv/site/portal/settings.py")
    assert row["neighbour"] == "api" and row["changes_for_neighbour"] == ["CONN_HEALTH_CHECKS"]
    assert any("also loaded by api" in w for w in run.warnings)


def test_shared_settings_never_give_an_async_neighbour_persistent_connections(tmp_path):
    """The api is the gevent one here and is left alone; the shop (gthread) needs CONN_MAX_AGE 600
    in the module both import: that would make the api leak at its next restart. Refused, nothing changed."""
    base = Path(__file__).parent / "fixtures/flow/multi/supervisor_shared/files/srv/site"
    files = {"/srv/site/shop.conf.py": (base / "api.conf.py").read_text().replace("8001", "8000"),
             "/srv/site/api.conf.py": (base / "shop.conf.py").read_text().replace("8000", "8001"),
             "/srv/site/portal/settings.py": (base / "portal/settings.py").read_text().replace(
                 '"CONN_MAX_AGE": 600,', '"CONN_MAX_AGE": 0,')}
    fake = FakeApps("supervisor_shared", files=files)
    before = files_of(fake)
    run, _ = run_host(fake, tmp_path, {"remediation_skip_apps": ["api"]})
    assert run.status == Status.REFUSED
    assert "async worker" in run.error and "api" in run.error and "nothing was changed" in run.error
    assert files_of(fake) == before and applied(fake.apps["api"]) == 0 and applied(fake.apps["shop"]) == 0


# --- one database, two apps: each count is the app's own -----------------------------------------------------

def test_new_connection_count_is_the_app_s_own_not_its_neighbour_s(tmp_path):
    """Both apps use one database and role; the api serves 50 requests of its own clients while
    the shop's baseline runs (its 3 x 4 threads open their connections: the server's counter counts them),
    yet the shop's count is its own workers' connections only."""
    fake = FakeApps("supervisor_two", faults={"neighbour_traffic": {"during": "shop", "by": "api", "requests": 50}})
    fake.apps["api"].process.warm_threads = 0
    run, _ = run_host(fake, tmp_path)
    shop = run.apps["shop"]
    requests = load_playbook().verify.requests
    assert shop["before"]["new_db_connections"] == requests  # gevent: one per request, its own
    assert shop["before"]["server_new_connections"] >= requests + 12  # the api's too (its first 12 connect)
    assert shop["after"]["new_db_connections"] <= 16


def test_the_summaries_show_one_row_per_app(tmp_path):
    from types import SimpleNamespace

    from rich.console import Console

    from remediation.cli.fleet import summary_table
    from remediation.cli.host import _metrics_table

    fake = FakeApps("supervisor_two")
    run, journal = run_host(fake, tmp_path)
    console = Console(width=400, record=True)
    console.print(summary_table(SimpleNamespace(journal=journal, runs={"apps1": run}, skipped=[])))
    console.print(_metrics_table("run", [run]))
    text = console.export_text()
    shop = [line for line in text.splitlines() if "apps1 shop" in line]
    api = [line for line in text.splitlines() if "apps1 api" in line]
    assert len(shop) == 2 and len(api) == 2
    assert all("remediated" in line and "gevent → gthread" in line for line in shop)
    assert all("unchanged" in line and "gthread → gthread" in line for line in api)


def test_plan_shows_each_app_and_the_shared_file_refusal(tmp_path, monkeypatch):
    """`plan` on a host of two apps: one plan per app, and the neighbour rule remediate applies."""
    import json

    import yaml
    from invoke import Context

    from remediation.cli import host as cli_host

    base = Path(__file__).parent / "fixtures/flow/multi/supervisor_shared/files/srv/site"
    files = {"/srv/site/shop.conf.py": (base / "api.conf.py").read_text().replace("8001", "8000"),
             "/srv/site/api.conf.py": (base / "shop.conf.py").read_text().replace("8000", "8001"),
             "/srv/site/portal/settings.py": (base / "portal/settings.py").read_text().replace(
                 '"CONN_MAX_AGE": 600,', '"CONN_MAX_AGE": 0,')}
    fake = FakeApps("supervisor_shared", files=files)
    monkeypatch.setattr(cli_host, "Remote", lambda host, accept_new_host_key=False: FakeAppsRemote(fake, host))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"apps1": {
        "ansible_host": "10.0.0.9", "remediation_verify_path": "/", "remediation_skip_apps": ["api"]}}}}))
    out = tmp_path / "plan.json"
    cli_host.plan.body(Context(), "apps1", inventory=str(inventory), json=str(out))
    data = json.loads(out.read_text())
    assert data["schema_version"] == 2 and list(data["apps"]) == ["shop"]  # the api is left out
    shop = data["apps"]["shop"]
    assert shop["decision"] == "blocked" and "async worker" in shop["reason"]
    assert shop["shared"][0]["neighbour"] == "api" and shop["files"] == ["/srv/site/portal/settings.py"]
    assert changed(fake) == set()  # nothing written


def test_a_program_file_change_in_a_group_of_several_is_refused():
    """`supervisorctl update GROUP` restarts every program of the group: a change to the program's
    own file would restart its neighbour in the group."""
    from types import SimpleNamespace

    from remediation.model import GunicornMaster, RestartMethod
    from remediation.plan.neighbours import Neighbour, group_restart

    def master(program: str) -> GunicornMaster:
        return GunicornMaster(1, ["gunicorn"], "app", 1, "/srv", None, {}, [],
                              RestartMethod("supervisor", program=program,
                                            config_files=["/etc/supervisor/supervisord.conf"]))

    def ins(program: str, patched: list[str]):
        return SimpleNamespace(gathered=SimpleNamespace(master=master(program)), patched_paths=lambda: patched)

    mate = Neighbour("web:api", master("web:api"), None)
    other = Neighbour("admin", master("admin"), None)
    program_file = "/etc/supervisor/conf.d/web.conf"
    assert "(web:api too)" in group_restart(ins("web:shop", [program_file]), [mate, other])[0]
    assert group_restart(ins("web:shop", ["/srv/shop/gunicorn.conf.py"]), [mate]) == []  # a plain restart NAME
    assert group_restart(ins("web:shop", [program_file]), [other]) == []  # alone in its group
    assert group_restart(ins("shop", [program_file]), [mate]) == []  # its own group


def test_a_fleet_rollout_and_rollback_over_hosts_of_several_apps(tmp_path, monkeypatch):
    """rollout over two two-app hosts (a canary, then the rest): each broken app fixed, each healthy one
    untouched; the fleet rollback puts every file back byte-identical, healthy masters never restarted."""
    from remediation.fleet import rollback as fleet_rollback
    from remediation.fleet import rollout as fleet_rollout

    fakes = {"apps1": FakeApps("supervisor_two"), "apps2": FakeApps("supervisor_two")}
    monkeypatch.setattr(fleet_rollout, "HostFlow", lambda host, *a, **kw: HostFlow(
        host, *a, **{**kw, "remote_factory": FakeAppsRemote.factory(fakes[host.name])}))
    monkeypatch.setattr(fleet_rollback, "Remote", lambda host, accept_new_host_key=False: FakeAppsRemote(
        fakes[host.name], host))
    hosts = [Host(name, {"remediation_verify_path": "/"}) for name in fakes]
    inventory = Inventory(hosts={h.name: h for h in hosts})
    before = {name: files_of(fake) for name, fake in fakes.items()}
    api_pids = {name: fake.pid("api") for name, fake in fakes.items()}
    journal = Journal.create("rollout", "gevent-to-gthread", list(fakes), tmp_path)
    result = fleet_rollout.rollout(inventory, hosts, load_playbook(), journal, serial="1", max_fail_percentage=0,
                                   forks=2)
    assert {n: r.status for n, r in result.runs.items()} == {"apps1": Status.REMEDIATED, "apps2": Status.REMEDIATED}
    for name, fake in fakes.items():
        assert {a: r["status"] for a, r in result.runs[name].apps.items()} == {"shop": "remediated",
                                                                              "api": "unchanged"}
        assert changed(fake) == set(SHOP_FILES) and fake.pid("api") == api_pids[name]
    outcome = fleet_rollback.rollback_fleet(inventory, list(fakes), journal, forks=2)
    assert not outcome.failed
    for name, fake in fakes.items():
        assert files_of(fake) == before[name] and fake.pid("api") == api_pids[name]
        assert applied(fake.apps["api"]) == 0 and applied(fake.apps["shop"]) == 2  # the fix, then the rollback
