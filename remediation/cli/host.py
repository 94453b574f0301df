"""Host tasks: inspect, plan, remediate, verify, rollback (`invoke --list`)."""
from __future__ import annotations


from invoke import Exit
from rich.table import Table

from remediation.cli.common import (COMMON_HELP, as_int, check_json_target, confirm, emit_json, fleet_exit_code,
                                    guarded, journal_for, open_run, out_for, report, task)
from remediation.cli.common import inventory as inventory_of
from remediation.errors import InputError
from remediation.plan.inspection import Inspection
from remediation.journal import Journal
from remediation.config.playbook import load_playbook, missing_path_reason
from remediation.discovery.worker_classes import warms_up
from remediation.redact import redact
from remediation.flow import HostFlow
from remediation.transport.remote import Remote
from remediation.facts.gather import gather
from remediation.verify.measure import app_url, measure
from remediation import apps
from remediation.facts.parse import parse_probe
from remediation.plan import neighbours
from remediation.plan.decide import verify_path

def _inspect_table(data: dict) -> Table:
    detail = data.get("restart_detail") or {}
    code = {"mounted": ", code mounted", "pulled": f", code baked into the pulled image {detail.get('image')}",
            "baked-build": f", code baked into an image built from {detail.get('build_context')}"}.get(detail.get("code") or "", "")
    table = Table(title=f"{data['host']}: gunicorn (restart via {data['restart']}{code}, "
                        f"running worker: {data['running_worker']})")
    for col in ("setting", "effective", "where it is set"):
        table.add_column(col)
    for key, value in data["effective"].items():
        where = [f"{s['file']}:{s['line'] or '-'} ({s['action']})" for s in data["sources"] if s["setting"] == key]
        table.add_row(key, str(value), "\n".join(where) or "default")
    for alias, db in data["databases"].items():
        for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
            where = [f"{s['file']}:{s['line'] or '-'} ({s['action']})" for s in data["sources"] if s["setting"] == key]
            table.add_row(f"{alias}.{key}", str(db[key]), "\n".join(where) or "Django default")
    return table


def _inspect_host(c, host: str, inventory: str | None, playbook: str | None, accept_new_host_key: bool,
                  app: str | None = None, chosen: bool = False):
    """Load inventory and playbook, then gather and resolve each app of one host over one
    connection: `app` alone, else every app (`chosen`: as the selection vars choose them)."""
    inv = inventory_of(c, inventory)
    pb = load_playbook(playbook)
    with Remote(inv.host(host), accept_new_host_key=accept_new_host_key) as remote:
        probe = dict(remote.probe())
        names = list(apps.named(parse_probe(probe).masters))
        if app or chosen:
            names = apps.choose(host, names, inv.host(host).vars, app).apps if names else names
        each: list[str | None] = list(names) or [None]  # no master: the inspection says so
        found = [Inspection.build(host, gather(remote, app=name, probe=probe), pb.target) for name in each]
        # what remediate decides about files shared with the host's other apps (plan/neighbours.py)
        shared = {ins.gathered.app: neighbours.check(ins, neighbours.read(remote, ins.gathered.facts, ins.gathered.app,
                                                                          ins.gathered.files),
                                                     set(names[names.index(ins.gathered.app) + 1:]))
                  for ins in found if chosen and len(ins.gathered.facts.masters) > 1 and ins.patched_paths()}
        return inv, pb, found, shared


def _app_json(ins: Inspection) -> dict:
    return {**ins.as_json(), "app": ins.gathered.app, "listen": ins.gathered.master.listen}


@task(help={**{k: COMMON_HELP[k] for k in ("host", "inventory", "json", "playbook", "accept_new_host_key", "app")},
            "limit": "inspect many hosts (pattern as for rollout: names, groups, globs, a:b, a:&b, a:!b)",
            "fast": "with --limit: processes and files only, values resolved statically (no app interpreter)",
            "forks": "with --limit: hosts inspected in parallel (default 50)"})
@guarded
def inspect(c, host=None, inventory=None, json=None, playbook=None, accept_new_host_key=False, limit=None,
            fast=False, forks=None, app=None):
    """Show what a host really runs (gunicorn settings with their sources, DATABASES, versions),
    or with --limit, one line per host of a fleet."""
    check_json_target(json)
    if limit:
        if host:
            raise InputError("give --host or --limit, not both")
        return _inspect_fleet(c, limit, inventory, json, playbook, accept_new_host_key, fast,
                              as_int(forks if forks is not None else 50, "forks", 1))
    if not host:
        raise InputError("give --host NAME, or --limit PATTERN for many hosts")
    _inv, _pb, found, _shared = _inspect_host(c, host, inventory, playbook, accept_new_host_key, app)
    views = {ins.gathered.app: _app_json(ins) for ins in found}
    # one app: its fields at the top, as before several apps were told apart; always each under `apps`
    data = report("inspect", {**(views[found[0].gathered.app] if len(found) == 1 else {"host": host}), "apps": views})
    emit_json(data, json)
    if json != "-":
        out = out_for(json)
        for ins in found:
            view = views[ins.gathered.app]
            m = ins.gathered.master
            out.print(f"[bold]app {ins.gathered.app}[/] (listening on {', '.join(m.listen) or 'unknown'})")
            out.print(_inspect_table(view))
            out.print(f"master pid {m.pid} ({m.user}), workers: "
                      + ", ".join(f"{w.pid} ({w.threads} threads)" for w in m.workers))
            out.print("versions: " + ", ".join(f"{k} {v}" for k, v in view["versions"].items()))
            for alias, server in view["db_server"].items():
                out.print(f"database {alias}: max_connections {server.get('max_connections')}, "
                          f"open now {server.get('connections_now')}")


def _inspect_fleet(c, limit, inventory, json, playbook, accept_new_host_key, fast, forks):
    import time

    from remediation.fleet.survey import DEFAULTS, STATUSES, survey

    inv = inventory_of(c, inventory)
    pb = load_playbook(playbook)
    hosts = inv.select(limit)
    started = time.perf_counter()
    results = survey(hosts, pb.target, fast=fast, forks=forks, accept_new_host_key=accept_new_host_key)
    seconds = time.perf_counter() - started
    summary = {status: sum(1 for r in results if r.status == status) for status in STATUSES}
    data = report("survey", {"limit": limit, "fast": fast, "seconds": round(seconds, 3), "summary": summary,
                             "hosts": {r.host: r.as_json() for r in results}})
    emit_json(data, json)
    out = out_for(json)
    if json != "-":
        table = Table(title=f"{len(results)} host(s), values from {'files (static)' if fast else 'the app'}")
        for col in ("host", "status", "worker", "workers x threads", "CONN_MAX_AGE", "health checks",
                    "restart", "live", "changes"):
            table.add_column(col)
        def show(values: dict, key: str) -> str:
            value = values.get(key)
            return f"{DEFAULTS[key]}*" if value is None and values else str(value if value is not None else "-")

        for r in results:
            v = r.values
            table.add_row(r.host, r.status, show(v, "worker_class"), f"{show(v, 'workers')} x {show(v, 'threads')}",
                          show(v, "CONN_MAX_AGE"), show(v, "CONN_HEALTH_CHECKS"), str(r.restart or "-"),
                          f"{r.live_workers} worker(s), threads {r.live_threads}" if r.live_workers is not None
                          else "-", str(len(r.changes)) if r.status != "unreachable" else redact(r.error or ""))
        out.print(table)
        out.print("* not set anywhere: gunicorn's or Django's default")
    out.print(f"{len(results)} host(s) in {seconds:.2f} s: "
              + ", ".join(f"{n} {status}" for status, n in summary.items() if n))
    bad = [r for r in results if r.status in ("unreachable", "error")]
    if bad:
        code = fleet_exit_code([r.host for r in bad if r.status == "error"],
                               [r.host for r in bad if r.status == "unreachable"])
        raise Exit("; ".join(f"{r.host}: {redact(r.error or r.status)}" for r in bad), code=code)


@task(help={k: COMMON_HELP[k] for k in ("host", "inventory", "json", "playbook", "accept_new_host_key", "app")})
@guarded
def plan(c, host, inventory=None, json=None, playbook=None, accept_new_host_key=False, app=None):
    """Print the diff remediate would apply and what it would refuse; changes nothing."""
    check_json_target(json)
    inv, pb, found, shared = _inspect_host(c, host, inventory, playbook, accept_new_host_key, app, chosen=True)
    plans = {ins.gathered.app: _plan_app(inv, pb, host, ins, json, shared.get(ins.gathered.app)) for ins in found}
    if len(plans) == 1:
        emit_json(report("plan", {**next(iter(plans.values())), "apps": plans}), json)
    else:
        emit_json(report("plan", {"host": host, "playbook": pb.name, "apps": plans}), json)


def _plan_app(inv, pb, host: str, ins: Inspection, json, shared: tuple[list, list] | None = None) -> dict:
    """One app's plan, printed unless the JSON goes to stdout; its report fields. `shared`: the
    files it shares with the host's other apps and why they must not change (plan/neighbours.py)."""
    from remediation.plan.decide import Verdict, decide, host_target, hosts_sharing_db
    from remediation.plan.preflight import check

    target_host = inv.host(host)
    if len(ins.gathered.facts.masters) > 1 and json != "-":
        out_for(json).print(f"[bold]app {ins.gathered.app}[/]")
    pre = check(ins, hosts_sharing_db(target_host, inv), target_host.vars,
                target=host_target(ins.gunicorn, ins.versions(), pb.target))
    decision = decide(ins, target_host, inv, pb, force=False)  # the one go/no-go remediate makes
    rows, blockers = shared or ([], [])
    if blockers and decision.verdict not in (Verdict.BLOCKED, Verdict.UNCHANGED):  # as remediate refuses it
        decision.verdict = Verdict.BLOCKED
        decision.reason = "refused: " + "; ".join(blockers) + "; nothing was changed"
    from remediation.plan.restart_kind import choose, reload_facts, restart_plan

    target = host_target(ins.gunicorn, ins.versions(), pb.target)
    restart_choice = restart_plan(ins, choose(reload_facts(ins, target, decision.restart_only, target_host.vars)))
    findings = [f.as_json() for f in ins.audit.findings]
    data = {"host": host, "app": ins.gathered.app, "playbook": pb.name, "diff": redact(ins.audit.diff),
            "findings": findings, "decision": str(decision.verdict), "reason": redact(decision.reason) or None,
            "refusals": pre.refusals, "warnings": pre.warnings + [neighbours.describe(r) for r in rows],
            "files": ins.patched_paths(), "shared": rows,
            "restart": restart_choice if decision.verdict == Verdict.GO else None}
    if json != "-":
        out = out_for(json)
        summary = {Verdict.UNCHANGED: f"{host}: nothing to change",
                   Verdict.GO: f"{host}: nothing to patch; a restart applies what the files already say"}
        out.print(data["diff"] or summary.get(decision.verdict) or f"{host}: {data['reason']}", markup=False,
                  highlight=False)
        for f in ins.audit.findings:
            if f.action == "report":
                out.print(f"[yellow]report[/] /{f.file}:{f.line or '-'} {f.setting}: {redact(f.reason)}")
        for line in pre.refusals:
            out.print(f"[red]would refuse[/]: {line}")
        if data["diff"] and decision.verdict not in (Verdict.GO, Verdict.UNCHANGED):
            out.print(f"[red]remediate would stop here[/]: {data['reason']}", soft_wrap=True)
        for line in data["warnings"]:
            out.print(f"[yellow]warning[/]: {line}")
        if data["restart"]:
            out.print(restart_line(data["restart"]), markup=False, highlight=False)
    return data


def restart_line(choice: dict) -> str:
    """`plan`'s line for the restart it chose: the kind, the reason code, what decided, and what
    bounds the manager's graceful stop (where a HUP falls back, too)."""
    stop = choice.get("stop") or {}
    bound = stop.get("bound_s")
    graceful = (f"graceful stop within {bound:g} s (gunicorn graceful_timeout {stop.get('graceful_timeout_s')}, "
                f"{stop.get('setting')}: {stop.get('stop_signal')}, {stop.get('stop_timeout_s')} s)"
                if stop.get("graceful") and bound is not None else
                f"stop signal {stop.get('stop_signal')}: gunicorn stops at once, in-flight requests are cut"
                if not stop.get("graceful") else "graceful stop, bound unknown")
    head = f"restart: {choice['kind']} ({choice['reason']}{': ' + choice['detail'] if choice.get('detail') else ''})"
    if choice["kind"] == "reload-hup":
        return f"{head}; if the new workers give no proof: manager-restart, {graceful}"
    return f"{head}; {graceful}"


def _metrics_table(title: str, runs: list) -> Table:
    table = Table(title=title)
    table.add_column("host")
    table.add_column("status")
    rows = [("worker_class", "worker"), ("threads", "threads"), ("conn_max_age", "CONN_MAX_AGE"),
            ("conn_health_checks", "health checks"), ("request_ms_p50", "request ms p50"),
            ("request_ms_p95", "request ms p95"), ("acquire_ms_p50", "acquire ms p50"),
            ("acquire_ms_p95", "acquire ms p95"), ("new_db_connections", "new DB conns")]
    for _, label in rows:
        table.add_column(label + "\nbefore → after", justify="right")
    for run in runs:
        each = [(f"{run.name} {app}", r["status"], r.get("before") or {}, r.get("after") or {})
                for app, r in run.apps.items()] if len(run.apps) > 1 else [(run.name, run.status, run.before or {},
                                                                            run.after or {})]
        for name, status, b, a in each:
            table.add_row(name, str(status), *(f"{b.get(k)} → {a.get(k)}" for k, _ in rows))
    return table


@task(help={**{k: COMMON_HELP[k] for k in ("host", "inventory", "json", "playbook", "accept_new_host_key")},
            "yes": "do not ask for confirmation (required when stdin is not a terminal)",
            "force": "override pre-flight refusals", "app": COMMON_HELP["app"]})
@guarded
def remediate(c, host, inventory=None, json=None, playbook=None, yes=False, force=False, accept_new_host_key=False,
              app=None):
    """Fix one host: baseline, back up, patch, restart, verify; roll back automatically on failure."""
    check_json_target(json)
    inv = inventory_of(c, inventory)
    pb = load_playbook(playbook)
    target_host = inv.host(host)
    out = out_for(json)
    confirm(f"remediate {host} with {pb.name}?", yes)
    journal = Journal.create("remediate", pb.path, [host])
    flow = HostFlow(target_host, inv, pb, journal, force=force, accept_new_host_key=accept_new_host_key,
                    progress=lambda h, stage: out.print(f"[dim]{h}: {stage}[/]"))
    flow.only_app = app
    run = flow.execute()
    data = report("remediate", {"run_id": journal.run_id, "playbook": pb.name, "hosts": {host: run.as_json()}})
    journal.write_report(data)
    emit_json(data, json)
    out.print(_metrics_table(f"run {journal.run_id}", [run]))
    for line in run.warnings:
        out.print(f"[yellow]warning[/]: {redact(line)}")
    for name, why in run.skipped.items():
        out.print(f"app {name}: left alone, {why}")
    for change in run.changes:
        if change.get("created"):
            out.print(f"created {change['path']} sha256 {change['sha256_after'][:12]} (absent before: the "
                      "rollback removes it)")
            continue
        out.print(f"changed {change['path']} sha256 {change['sha256_before'][:12]} → {change['sha256_after'][:12]} "
                  f"(backup {change['backup']})")
    if run.status not in ("remediated", "unchanged"):
        code = fleet_exit_code([host] if run.status != "unreachable" else [], [host])
        raise Exit(f"{host}: {run.status} at stage {run.stage}: {redact(run.error or '')}", code=code)
    out.print(f"{host}: {run.status}")


@task(help={**{k: COMMON_HELP[k] for k in ("host", "inventory", "json", "playbook", "accept_new_host_key")},
            "requests": "timed requests (default: the playbook's)", "app": COMMON_HELP["app"]})
@guarded
def verify(c, host, inventory=None, json=None, playbook=None, requests=None, accept_new_host_key=False, app=None):
    """Measure a host now: worker class, request timings, new DB connections, acquisition times."""
    check_json_target(json)
    if requests is not None:
        requests = as_int(requests, "requests", 1)
    inv = inventory_of(c, inventory)
    pb = load_playbook(playbook)
    h = inv.host(host)
    with Remote(h, accept_new_host_key=accept_new_host_key) as remote:
        gathered = gather(remote, want_db=False, app=app)
        ins = Inspection.build(host, gathered, pb.target)
        url = app_url(gathered, h.vars, verify_path(gathered.app, h.vars, pb), pb.verify.port)
        if url is None:
            raise InputError(missing_path_reason(host, pb.path))
        g = ins.gunicorn
        width = (g.get("workers") or 1) * max(1, g.get("threads") or 1)  # what the live app serves at once
        warmup = width if warms_up(g.get("worker_class")) else 0
        m = measure(remote, gathered, url, int(requests or pb.verify.requests), warmup, pb.verify.log_pattern,
                    concurrency=width, request_timeout_s=pb.verify.timeout_s)
        m.worker_threads = [w.threads for w in parse_probe_master(remote, app).workers]
    from remediation.verify.verdict import metrics

    data = report("verify", {"host": host, "app": gathered.app, "url": url, "running_worker": ins.running_worker(),
                             "metrics": metrics(g, ins.databases(), m), "warmup": warmup})
    emit_json(data, json)
    if json != "-":
        out = out_for(json)
        for key, value in data["metrics"].items():
            out.print(f"{key:>20}: {value}")
        out.print(f"{'running worker':>20}: {data['running_worker']}")


def parse_probe_master(remote: Remote, app: str | None = None):
    return parse_probe(dict(remote.probe())).master(app)


@task(help={"host": "one host to roll back", "limit": "roll back every matching host (pattern as for rollout)",
            "run": "the run to undo (default: for each host, the latest run that changed it); alone: every host "
                   "that run changed", "forks": "hosts rolled back in parallel (default 10)",
            "yes": "do not ask for confirmation (required when stdin is not a terminal)",
            "app": "with --host: roll back only this app of the host (default: every app the run changed)",
            **{k: COMMON_HELP[k] for k in ("inventory", "json", "accept_new_host_key")}})
@guarded
def rollback(c, host=None, limit=None, run=None, inventory=None, json=None, forks=None, accept_new_host_key=False,
             yes=False, app=None):
    """Emergency rollback: restore pre-remediation files byte-identical from the journal, restart, check serving."""
    from remediation.fleet.rollback import rollback_fleet
    from remediation.model import FleetResult, Outcome

    check_json_target(json)
    forks = as_int(forks if forks is not None else 10, "forks", 1)
    inv = inventory_of(c, inventory)
    out = out_for(json)
    if host and limit:
        raise InputError("give --host or --limit, not both")
    if app and not host:
        raise InputError("--app needs --host (one host's app)")
    if host or limit:
        names = [host] if host else [h.name for h in inv.select(limit)]
        for name in names:
            inv.host(name)
        groups: dict[str, list[str]] = {}
        for name in names:
            journal = journal_for(name, run, required=bool(host))
            if journal is not None:
                groups.setdefault(journal.run_id, []).append(name)
    elif run:
        journal = open_run(run)
        groups = {run: list(journal.meta()["hosts"])}
    else:
        raise InputError("give --host, --limit or --run")
    to_undo = sorted(n for names in groups.values() for n in names)
    if to_undo:
        confirm(f"roll back {len(to_undo)} host(s): {', '.join(to_undo[:10])}?", yes)
    result, runs = FleetResult(), {}
    for run_id, names in groups.items():
        part = rollback_fleet(inv, names, Journal.open(run_id), forks=int(forks), accept_new_host_key=accept_new_host_key,
                              app=app)
        result.update(part)
        runs.update({name: run_id for name in part.outcomes})
    lines = {name: f"{o.line()} (run {runs[name]})" for name, o in sorted(result.outcomes.items())}
    statuses = {Outcome.DONE: "rolled_back", Outcome.NOTHING: "nothing_to_roll_back", Outcome.FAILED: "failed"}
    emit_json(report("rollback", {"hosts": {name: {"status": statuses[o.outcome], "outcome": lines[name],
                                                   "detail": o.detail, "run_id": runs[name]}
                                            for name, o in sorted(result.outcomes.items())}}), json)
    for name, line in lines.items():
        out.print(f"{name}: {line}")
    if not lines:
        out.print("nothing to roll back")
    if result.failed:
        unreachable = [o.host for o in result.failed if o.unreachable]
        code = fleet_exit_code([o.host for o in result.failed if o.host not in unreachable], unreachable)
        raise Exit("rollback failed on: " + "; ".join(f"{o.host}: {lines[o.host]}" for o in result.failed), code=code)
