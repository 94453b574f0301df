"""Fleet tasks: rollout, history, unlock; and the live progress board."""
from __future__ import annotations

import datetime
import time
from contextlib import contextmanager

from invoke import Exit
from rich.live import Live
from rich.table import Table

from remediation.transport import lock
from remediation.cli.common import (COMMON_HELP, as_float, as_int, check_json_target, confirm, emit_json,
                                    fleet_exit_code, guarded, open_run, out_for, report, task)
from remediation.cli.common import inventory as inventory_of
from remediation.errors import InputError
from remediation.journal import Journal, default_runs_dir, list_runs
from remediation.config.playbook import load_playbook
from remediation.redact import redact
from remediation.transport.remote import Remote
from remediation.fleet.progress import Progress
from remediation.fleet.rollback import rollback_fleet
from remediation.fleet.rollout import DONE, resume_state, rollout


def _board(progress: Progress) -> Table:
    batch, rows = progress.snapshot()
    table = Table(title=f"rollout — {batch}")
    for col in ("host", "stage", "status", "elapsed s"):
        table.add_column(col)
    now = time.monotonic()
    for host, row in rows.items():
        elapsed = (row["ended"] or now) - row["started"]
        colour = {"remediated": "green", "unchanged": "green", "running": "cyan"}.get(row["status"], "red")
        table.add_row(host, row["stage"], f"[{colour}]{row['status']}[/]", f"{elapsed:.1f}")
    return table


@contextmanager
def live_progress(out):
    """A live rich table on a terminal; plain stage lines otherwise."""
    if out.is_terminal:
        progress = Progress()
        with Live(_board(progress), console=out, refresh_per_second=4) as live:
            progress.on_change = lambda: live.update(_board(progress))
            yield progress
    else:
        seen: dict[str, tuple] = {}
        progress = Progress()

        def changed():
            batch, rows = progress.snapshot()
            if seen.get("*") != (batch,):
                seen["*"] = (batch,)
                out.print(f"[bold]{batch}[/]")
            for host, row in rows.items():
                key = (row["stage"], row["status"])
                if seen.get(host) != key:
                    seen[host] = key
                    out.print(f"  {host}: {row['stage']} ({row['status']})")

        progress.on_change = changed
        yield progress


def summary_table(result) -> Table:
    table = Table(title=f"rollout {result.journal.run_id}")
    for col in ("host", "status", "worker before → after", "request p50 ms before → after",
                "new DB conns before → after", "files changed", "stage / cause"):
        table.add_column(col)
    for name, run in result.runs.items():
        # a host of several apps: one row per app (apps.py), its own metrics, changes and cause
        rows = [(f"{name} {app}", r["status"], r.get("stage"), r.get("error"), r.get("before") or {},
                 r.get("after") or {}, len(r.get("changes") or [])) for app, r in run.apps.items()] \
            if len(run.apps) > 1 else [(name, run.status, run.stage, run.error, run.before or {}, run.after or {},
                                        len(run.changes))]
        for label, status, stage, error, b, a, changed in rows:
            colour = "green" if status in DONE else "red"
            cause = "" if status in DONE else f"{stage}: {redact(error or '')}"
            table.add_row(label, f"[{colour}]{status}[/]", f"{b.get('worker_class')} → {a.get('worker_class')}",
                          f"{b.get('request_ms_p50')} → {a.get('request_ms_p50')}",
                          f"{b.get('new_db_connections')} → {a.get('new_db_connections')}", str(changed), cause)
    for name in result.skipped:
        table.add_row(name, "[yellow]skipped[/]", "", "", "", "0", "rollout stopped before this host")
    return table


@task(name="rollout", help={"limit": "hosts: names, groups, globs, a:b unions, a:&b intersections, a:!b exclusions",
            "playbook": COMMON_HELP["playbook"], "inventory": COMMON_HELP["inventory"], "json": COMMON_HELP["json"],
            "serial": "batch sizes: a count, a percentage, or a list like 1,25%,100% (the last repeats); "
                      "the first batch is the canary (default 1,100%)",
            "max_fail_percentage": "stop when a batch's failed hosts exceed this percentage (0 = any failure)",
            "forks": "hosts handled in parallel inside a batch (default 10)",
            "rollback_on_abort": "when the rollout stops, roll back every host it already changed",
            "resume": "continue an interrupted rollout (its run id), skipping hosts already done",
            "yes": "do not ask for confirmation (required when stdin is not a terminal)",
            "force": "override pre-flight refusals",
            "accept_new_host_key": COMMON_HELP["accept_new_host_key"]})
@guarded
def rollout_task(c, limit=None, playbook=None, inventory=None, json=None, serial="1,100%", max_fail_percentage=None,
                 forks=None, rollback_on_abort=False, resume=None, yes=False, force=False, accept_new_host_key=False):
    """Remediate a fleet: canary first, then batches in parallel, stopping at a failure threshold."""
    check_json_target(json)
    forks = as_int(forks if forks is not None else 10, "forks", 1)
    max_fail_percentage = as_float(max_fail_percentage if max_fail_percentage is not None else 0,
                                   "max-fail-percentage")
    inv = inventory_of(c, inventory)
    out = out_for(json)
    done = {}
    if resume:
        journal = open_run(resume)
        options, done, mid_flight = resume_state(journal)
        meta = journal.meta()
        pb = load_playbook(playbook or meta["playbook"])
        hosts = [inv.host(name) for name in meta["hosts"]]
        serial, forks = options["serial"], options["forks"]
        max_fail_percentage = options["max_fail_percentage"]
        rollback_on_abort, force = options["rollback_on_abort"], options["force"]
        confirm(f"resume rollout {resume} ({len(hosts) - len(done)} host(s) left)?", yes)
        if mid_flight:
            out.print(f"resume {resume}: rolling back hosts interrupted mid-change first: {', '.join(mid_flight)}")
            outcomes = rollback_fleet(inv, mid_flight, journal, forks=int(forks),
                                      accept_new_host_key=accept_new_host_key)
            if outcomes.failed:
                raise Exit("resume: " + "; ".join(f"{o.host}: {o.line()}" for o in outcomes.failed), code=1)
        out.print(f"resume {resume}: {len(done)} host(s) already done: {', '.join(sorted(done)) or 'none'}")
    else:
        if not limit:
            raise InputError("--limit is required (e.g. --limit all)")
        pb = load_playbook(playbook)
        hosts = inv.select(limit)
        confirm(f"roll out {pb.name} to {len(hosts)} host(s)?", yes)
        journal = Journal.create("rollout", pb.path, [h.name for h in hosts])
    with live_progress(out) as progress:
        result = rollout(inv, hosts, pb, journal, serial=serial, max_fail_percentage=float(max_fail_percentage),
                         forks=int(forks), force=force, rollback_on_abort=rollback_on_abort,
                         accept_new_host_key=accept_new_host_key, progress=progress, done=done)
    data = report("rollout", result.as_json())
    journal.write_report(data)
    emit_json(data, json)
    out.print(summary_table(result))
    failed = result.failed
    for run in failed:
        out.print(f"[red]FAILED[/] {run.name}: {run.status} at {run.stage}: {redact(run.error or '')}")
    if result.stopped:
        out.print(f"[red]STOPPED[/] {result.stopped}; untouched: {', '.join(result.skipped) or 'none'}")
    if failed or result.stopped:
        names = ", ".join(f"{r.name} ({r.status} at {r.stage})" for r in failed)
        unreachable = [r.name for r in failed if r.status == "unreachable"]
        code = fleet_exit_code([r.name for r in failed if r.status != "unreachable"] or
                               ([] if unreachable else ["stopped"]), unreachable)
        raise Exit(f"rollout {journal.run_id}: {len(failed)} host(s) failed: {names}"
                   + (f"; stopped: {result.stopped}" if result.stopped else ""), code=code)
    out.print(f"rollout {journal.run_id}: {len(result.runs)} host(s) done")




@task(help={"json": COMMON_HELP["json"]})
@guarded
def history(c, json=None):
    """List runs: id, when, kind, playbook, hosts by status."""
    rows = []
    for journal in list_runs():
        meta = journal.meta()
        statuses: dict[str, str] = {}
        for event in journal.events():
            if event["event"] == "result":
                statuses[event["host"]] = event["status"]
            elif event["event"] == "rolled-back":
                statuses[event["host"]] = "rolled_back"
        for name in meta["hosts"]:
            statuses.setdefault(name, "not started" if not journal.events(name) else "interrupted")
        rows.append({"run_id": meta["run_id"], "kind": meta["kind"], "playbook": meta.get("playbook"),
                     "started": meta["started"], "hosts": statuses})
    check_json_target(json)
    emit_json(report("history", {"runs": rows}), json)
    if json == "-":
        return
    out = out_for(json)
    table = Table(title=f"runs ({default_runs_dir()})")
    for col in ("run id", "when (UTC)", "kind", "playbook", "hosts by status"):
        table.add_column(col)
    for row in rows:
        by_status: dict[str, list[str]] = {}
        for host, status in row["hosts"].items():
            by_status.setdefault(status, []).append(host)
        when = datetime.datetime.fromtimestamp(row["started"], datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(row["run_id"], when, row["kind"], (row["playbook"] or "").rsplit("/", 1)[-1],
                      "; ".join(f"{s}: {', '.join(h)}" for s, h in sorted(by_status.items())))
    out.print(table)


@task(help={"host": COMMON_HELP["host"], "inventory": COMMON_HELP["inventory"],
            "accept_new_host_key": COMMON_HELP["accept_new_host_key"],
            "yes": "do not ask for confirmation (required when stdin is not a terminal)"})
@guarded
def unlock(c, host, inventory=None, accept_new_host_key=False, yes=False):
    """Break a host's remediation lock (left by a run that died); prints who held it."""
    inv = inventory_of(c, inventory)
    confirm(f"break the remediation lock of {host}?", yes)
    with Remote(inv.host(host), accept_new_host_key=accept_new_host_key) as remote:
        holder = lock.break_lock(remote)
    print(f"{host}: lock broken (was held by {lock.describe(holder)})" if holder else f"{host}: was not locked")
