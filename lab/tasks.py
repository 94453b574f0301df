"""`invoke lab.*`: the test fleet on this machine."""
from __future__ import annotations

import json as jsonlib

from invoke import Collection, Exit, task
from remediation.console import console
from rich.table import Table

from lab import config

from lab import lab

from lab import network
from lab.sh import LabError



def _guard(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except LabError as exc:
        raise Exit(f"lab: {exc}", code=1) from None
    except ValueError as exc:
        raise Exit(f"lab: {exc}", code=2) from None


@task(help={"hosts": "number of hosts (default 6: supervisor and compose, on PostgreSQL and MariaDB, three settings shapes)",
            "delay_ms": f"one-way delay the proxy adds between hosts and databases (default {config.DEFAULT_DELAY_MS}; 0 = off)",
            "variety": "also bring up varied hosts: 'covering' (every value of every dimension on some host) "
                       "or an integer seed for a random draw; the draw is printed per host"})
def up(c, hosts=6, delay_ms=config.DEFAULT_DELAY_MS, variety=None):
    """Bring the lab fleet up (idempotent: keeps what is healthy, repairs the rest)."""
    report = _guard(lab.up, int(hosts), int(delay_ms))
    console.print(f"lab up in {report['seconds']} s; started: {', '.join(report['started']) or 'nothing'}; "
                  f"kept: {', '.join(report['kept']) or 'nothing'}")
    console.print(f"inventory: inventory/lab.yml  key: {config.PRIVATE_KEY}  known_hosts: {config.KNOWN_HOSTS}")
    if variety is not None:
        from lab import variety_hosts

        varied = _guard(variety_hosts.up, str(variety), say=lambda line: console.print(line, markup=False))
        console.print(f"varied hosts ({variety}) up in {varied['seconds']} s (started {varied['started']}, kept "
                      f"{varied['kept']}); inventory: {variety_hosts.INVENTORY_PATH}")


@task(help={"hosts": "number of light hosts (sshd + supervisor + a tiny gunicorn app, no database)",
            "down": "remove the light hosts instead"})
def light(c, hosts=10, down=False):
    """Light hosts for fleet-scale benchmarks, apart from the full lab (their own inventory file)."""
    from lab import light as light_hosts

    if down:
        console.print(f"light hosts down: removed {_guard(light_hosts.down)}")
        return
    report = _guard(light_hosts.up, int(hosts))
    console.print(f"{hosts} light host(s) up in {report['seconds']} s (started {report['started']}, "
                  f"kept {report['kept']}); inventory: {light_hosts.INVENTORY_PATH}")


@task
def down(c):
    """Remove every lab namespace, link, process, mount and container."""
    removed = _guard(lab.down)
    console.print(f"lab down: removed {len(removed)} host(s)")


@task(help={"json": "print the status as JSON"})
def status(c, json=False):
    """Show each lab host: address, kind, and whether sshd and the app answer."""
    rows = _guard(lab.status)
    if json:
        print(jsonlib.dumps({"delay_ms": lab.current_delay(), "hosts": rows}))
        return
    table = Table(title=f"lab (proxy delay {lab.current_delay()} ms one way)")
    for col in ("host", "address", "restart", "database", "settings", "running", "cut", "ssh", "app"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("host", "address", "restart", "database", "settings",
                                               "running", "cut", "ssh", "app")))
    console.print(table if rows else "the lab is not up")


@task(help={"host": "lab host name, e.g. lab2"})
def cut(c, host):
    """Cut a lab host off the network (its processes keep running)."""
    _guard(lambda: network.cut(lab.find_host(host)))
    console.print(f"{host}: cut off")


@task(help={"host": "lab host name, e.g. lab2"})
def restore(c, host):
    """Reconnect a lab host that was cut off."""
    _guard(lambda: network.restore(lab.find_host(host)))
    console.print(f"{host}: reconnected")


@task(help={"host": "one lab host (default: all)"})
def reset(c, host=None):
    """Put lab hosts back in the incident's broken state (gevent, no persistent connections)."""
    _guard(lambda: lab.reset([lab.find_host(host)] if host else None))
    console.print(f"{host or 'all hosts'}: reset to the broken state")


@task(help={"ms": "one-way delay in milliseconds (0 switches the delay off)"})
def delay(c, ms):
    """Set the database delay proxy's one-way delay (new connections)."""
    _guard(lab.set_delay, int(ms))
    console.print(f"proxy delay: {ms} ms each way")


@task(name="fault-matrix")
def fault_matrix(c):
    """Copy the fault matrix the last full test run measured (build/fault-matrix.md) into docs/fault-matrix.md."""
    from lab import faultmatrix

    if not faultmatrix.MEASURED.exists():
        raise Exit(f"lab: no {faultmatrix.MEASURED}: run the whole test suite as root first (it writes it when "
                   "the fault tests pass)", code=1)
    readme = faultmatrix.README.read_text()
    updated = faultmatrix.into_readme(faultmatrix.MEASURED.read_text(), readme)
    if updated == readme:
        console.print("README fault matrix already up to date")
        return
    faultmatrix.README.write_text(updated)
    console.print(f"README fault matrix updated from {faultmatrix.MEASURED}")


lab_tasks = Collection("lab", up, light, down, status, cut, restore, reset, delay, fault_matrix)
