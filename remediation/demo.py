"""`invoke demo`: the incident on the lab fleet, measured."""
from __future__ import annotations

from invoke import Exit, task
from remediation.console import console
from rich.table import Table

from remediation.lab import config, lab, measure
from remediation.lab.sh import LabError



def incident_table(samples: list[tuple[str, measure.Sample]], title: str) -> Table:
    table = Table(title=title)
    for col in ("host", "kind", "worker", "requests", "connect ms p50", "request ms p50",
                "new DB conns / request", "DB conns open after"):
        table.add_column(col, justify="right" if col not in ("host", "kind", "worker") else "left")
    for worker, sample in samples:
        spec = lab.find_host(sample.host)
        s = sample.summary()
        table.add_row(spec.name, f"{spec.restart}/{spec.database}", worker, str(s["requests"]),
                      f"{s['acquire_ms_p50']:.1f}", f"{s['request_ms_p50']:.0f}",
                      f"{s['new_db_connections_per_request']:.2f}", str(s["open_after"]))
    return table


@task(help={"hosts": "lab hosts to bring up (default 4)", "requests": "timed requests per host (default 5)"})
def demo(c, hosts=4, requests=5):
    """Bring up the demo fleet and show the incident, measured on every host."""
    try:
        report = lab.up(int(hosts))
        console.print(f"lab up in {report['seconds']} s: {len(lab.current_fleet())} hosts "
                      f"(inventory/lab.yml), DB delay proxy {lab.current_delay()} ms each way")
        lab.reset()
        samples = [("gevent", measure.sample(spec, int(requests))) for spec in lab.current_fleet()]
    except LabError as exc:
        raise Exit(f"demo: {exc}", code=1) from None
    console.print(incident_table(samples, "The incident: gevent workers open a new DB connection per request"))
    console.print("connect ms = the app's own timing of connection.ensure_connection(); new DB conns are "
                  "counted by the database server (pg_stat_database.sessions, MariaDB USER_STATISTICS).")
