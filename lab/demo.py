"""`invoke demo`: the incident on the lab fleet, measured, then one host remediated."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from invoke import Exit, task
from rich.table import Table

from remediation.console import console
from remediation.errors import RemediationError
from remediation.config.inventory import load_inventory
from remediation.journal import Journal
from lab import lab
from lab import measure
from lab.inventory import INVENTORY_PATH
from lab.sh import LabError
from remediation.config.playbook import load_playbook
from remediation.flow import HostFlow


def incident_table(rows: list[tuple[str, str, measure.Sample]], title: str) -> Table:
    table = Table(title=title)
    for col in ("host", "kind", "when", "worker", "requests", "connect ms p50", "connect ms p95",
                "request ms p50", "new DB conns / 100 req", "DB conns open after"):
        table.add_column(col, justify="left" if col in ("host", "kind", "when", "worker") else "right")
    for when, worker, sample in rows:
        spec = lab.find_host(sample.host)
        s = sample.summary()
        table.add_row(spec.name, f"{spec.restart}/{spec.database}", when, worker, str(s["requests"]),
                      f"{s['acquire_ms_p50']:.2f}", f"{s['acquire_ms_p95']:.2f}", f"{s['request_ms_p50']:.0f}",
                      f"{100 * s['new_db_connections_per_request']:.0f}", str(s["open_after"]))
    return table


@task(help={"hosts": "lab hosts to bring up (default 6)", "requests": "timed requests per host (default 10)",
            "host": "the host to remediate (default lab2: supervisor, MariaDB, mysqlclient: the incident's stack)"})
def demo(c, hosts=6, requests=10, host="lab2"):
    """Bring up the demo fleet, show the incident measured, remediate one host, show before/after."""
    requests = int(requests)
    try:
        report = lab.up(int(hosts))
        console.print(f"lab up in {report['seconds']} s: {len(lab.current_fleet())} hosts "
                      f"(inventory/lab.yml), DB delay proxy {lab.current_delay()} ms each way")
        lab.reset()
        with ThreadPoolExecutor(max_workers=8) as pool:
            samples = list(pool.map(lambda spec: measure.sample(spec, requests), lab.current_fleet()))
        rows = [("before", "gevent", sample) for sample in samples]
        console.print(incident_table(rows, "The incident: gevent workers open a new DB connection per request"))
        spec = lab.find_host(host)
        playbook = load_playbook()
        inventory = load_inventory(INVENTORY_PATH)
        journal = Journal.create("remediate", playbook.path, [host])
        console.print(f"\nremediating {host} with {playbook.name} (run {journal.run_id})")
        run = HostFlow(inventory.host(host), inventory, playbook, journal,
                       progress=lambda h, stage: console.print(f"[dim]  {h}: {stage}[/]")).execute()
        journal.write_report({"run_id": journal.run_id, "hosts": {host: run.as_json()}})
        if run.status != "remediated":
            raise Exit(f"demo: {host} ended {run.status} at {run.stage}: {run.error}", code=1)
        warm = playbook.target.workers * playbook.target.threads
        after = measure.sample(spec, requests, warmup=warm)
        before = next(sample for _, _, sample in rows if sample.host == host)
    except (LabError, RemediationError) as exc:
        raise Exit(f"demo: {exc}", code=1) from None
    console.print(incident_table([("before", "gevent", before), (f"after (warm-up {warm})", "gthread", after)],
                                 f"{host} before and after remediation"))
    console.print("connect ms = the app's own timing of connection.ensure_connection(); new DB connections are "
                  "counted by the database server (pg_stat_database.sessions, MariaDB USER_STATISTICS). "
                  f"Undo with: invoke rollback --host {host}")
