"""The single-host flow: inspect, plan, pre-flight, baseline, apply, restart, verify, and
automatic rollback on any failure after the first change.

Every step is recorded in the run journal before it happens; every original file is
kept on the host and on the controller before it is changed.
"""
from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from remediation.errors import RemediationError
from remediation.facts.parse import RestartMethod, parse_probe
from remediation.facts.gather import Gathered, gather, interpreter, introspect
from remediation.plan.inspection import USING_WORKER, Inspection
from remediation.transport import lock
from remediation.config.inventory import Host, Inventory
from remediation.journal import Journal
from remediation.verify.measure import Measurement, app_url, finish_measure, measure, start_measure
from remediation.config.playbook import Playbook
from remediation.plan.expectations import mismatches
from remediation.plan.preflight import check
from remediation.redact import redact
from remediation.transport.remote import HostUnreachable, Remote, RemoteError
from remediation.restart import restart, wait_serving

HOST_BACKUP_ROOT = "/var/backups/remediation"
DB_GROUP_NAMES = ("postgres", "postgresql", "mysql", "mariadb")


class StageError(RemediationError):
    """A step failed; carries the stage name."""

    def __init__(self, stage: str, message: str):
        self.stage = stage
        super().__init__(message)


@dataclass
class HostRun:
    name: str
    status: str = "pending"  # remediated | unchanged | rolled_back | failed | unreachable | refused
    stage: str = "connect"
    before: dict | None = None
    after: dict | None = None
    changes: list[dict] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    diff: str = ""
    restart_commands: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict:
        out = asdict(self)
        out["diff"] = redact(self.diff)
        out["error"] = redact(self.error) if self.error else None
        return out


def metrics(ins_gunicorn: dict, databases: dict, m: Measurement | None) -> dict:
    """The before/after record the report and the summary table show."""
    default = databases.get("default") or next(iter(databases.values()), {})
    s = m.summary() if m else {}
    return {
        "worker_class": ins_gunicorn.get("worker_class"), "workers": ins_gunicorn.get("workers"),
        "threads": ins_gunicorn.get("threads"), "worker_connections": ins_gunicorn.get("worker_connections"),
        "conn_max_age": default.get("CONN_MAX_AGE"), "conn_health_checks": default.get("CONN_HEALTH_CHECKS"),
        "request_ms_p50": s.get("request_ms_p50"), "request_ms_p95": s.get("request_ms_p95"),
        "new_db_connections": s.get("new_db_connections"), "acquire_ms_p50": s.get("acquire_ms_p50"),
        "acquire_ms_p95": s.get("acquire_ms_p95"), "acquire_ms_p95_reused": s.get("acquire_ms_p95_reused"),
        "requests": s.get("requests"), "errors": s.get("errors"),
        "db_counter_scope": s.get("db_counter_scope"), "worker_threads": s.get("worker_threads"),
    }


def hosts_sharing_db(host: Host, inventory: Inventory) -> int:
    group = host.vars.get("remediation_db_group")
    if group and group in inventory.groups:
        return len(inventory.groups[group])
    for name in host.groups:
        if name in DB_GROUP_NAMES:
            return len(inventory.groups[name])
    return len(inventory.hosts)


def target_reached(gunicorn: dict, databases: dict, playbook: Playbook) -> list[str]:
    """What still differs from the target in the app's own view of its settings."""
    t = playbook.target
    gaps = []
    want = {"worker_class": t.worker_class, "workers": t.workers, "threads": t.threads}
    if t.worker_class == "gthread":
        want["worker_connections"] = t.worker_connections
    for key, value in want.items():
        if gunicorn.get(key) != value:
            gaps.append(f"gunicorn {key} is {gunicorn.get(key)!r}, want {value!r}")
    for alias, db in databases.items():
        if db.get("pool"):
            continue
        if db.get("CONN_MAX_AGE") != t.conn_max_age:
            gaps.append(f"{alias} CONN_MAX_AGE is {db.get('CONN_MAX_AGE')!r}, want {t.conn_max_age!r}")
        if bool(db.get("CONN_HEALTH_CHECKS")) != t.conn_health_checks:
            gaps.append(f"{alias} CONN_HEALTH_CHECKS is {db.get('CONN_HEALTH_CHECKS')!r}, want {t.conn_health_checks!r}")
    return gaps


def files_unread_until_restart(gunicorn: dict) -> bool:
    """True when the running gunicorn (as it loaded its own config) reads no config or settings
    file again before a restart: no `reload`, and no worker recycling (max_requests) that would
    import the settings anew in a fresh worker, unless the app is preloaded in the master. Only
    then may the files change while the baseline is measured against the old process."""
    if not gunicorn or "reload" not in gunicorn or "max_requests" not in gunicorn:
        return False  # an older introspection or none: assume the worst
    return not gunicorn["reload"] and (not gunicorn["max_requests"] or bool(gunicorn.get("preload_app")))


def validate_text(path: str, text: str) -> str | None:
    """Controller-side check that a patched file still parses as its kind (None when fine)."""
    import configparser

    import yaml

    name = path.rsplit("/", 1)[-1]
    try:
        if name.endswith((".yml", ".yaml")):
            yaml.safe_load(text)
        elif name.endswith((".conf", ".ini")) and "[" in text and not _validator(path):
            configparser.RawConfigParser(strict=False, interpolation=None).read_string(text)
        elif _validator(path) == "python":
            compile(text, path, "exec")
    except (yaml.YAMLError, configparser.Error, SyntaxError, ValueError) as exc:
        return str(exc).splitlines()[0]
    return None


def _validator(path: str) -> str | None:
    return "python" if path.endswith(".py") or "gunicorn" in path.rsplit("/", 1)[-1] else None


class HostFlow:
    """One host's remediation over one SSH connection."""

    def __init__(self, host: Host, inventory: Inventory, playbook: Playbook, journal: Journal, *,
                 force: bool = False, accept_new_host_key: bool = False,
                 progress: Callable[[str, str], None] | None = None):
        self.host, self.inventory, self.playbook, self.journal = host, inventory, playbook, journal
        self.force, self.accept_new_host_key = force, accept_new_host_key
        self.progress = progress or (lambda host, stage: None)
        self.run = HostRun(host.name)
        self.remote: Remote | None = None
        self.url = ""
        self.written: list[str] = []
        self.config_view: dict | None = None  # the app's view of the patched files (check-config)

    def stage(self, name: str) -> None:
        self.run.stage = name
        self.journal.record(self.host.name, "stage", stage=name)
        self.progress(self.host.name, name)

    def execute(self) -> HostRun:
        started = time.monotonic()
        try:
            with Remote(self.host, accept_new_host_key=self.accept_new_host_key) as remote:
                self.remote = remote
                try:
                    self.stage("lock")
                    lock.acquire(remote, self.journal.run_id)
                except lock.LockHeld as exc:
                    self._fail("refused", str(exc))
                    return self.run
                except HostUnreachable:
                    raise
                except RemediationError as exc:
                    self._fail("failed", f"lock: {exc}")
                    return self.run
                try:
                    self._flow()
                except HostUnreachable:
                    raise
                except RemediationError as exc:
                    stage = getattr(exc, "stage", self.run.stage)
                    if self.written:
                        self._rollback_after_failure(stage, str(exc))
                    else:
                        self._fail("failed", f"{stage}: {exc}")
                lock.release(remote, self.journal.run_id)
        except HostUnreachable as exc:
            if self.written:
                self._fail("failed", f"{self.run.stage}: {exc}; files were changed: run "
                                     f"`invoke rollback --host {self.host.name} --run {self.journal.run_id}`")
            else:
                self._fail("unreachable", str(exc))
        finally:
            self.run.seconds = round(time.monotonic() - started, 2)
            self.journal.record(self.host.name, "result", status=self.run.status, error=self.run.error)
        return self.run

    def _fail(self, status: str, message: str) -> None:
        self.run.status, self.run.error = status, redact(message)

    def _flow(self) -> None:
        pb = self.playbook
        self.stage("inspect")
        gathered = gather(self.remote)
        ins = Inspection.build(self.host.name, gathered, pb.target)
        restart_method = gathered.master.restart
        self.url = app_url(gathered, self.host.vars, pb.verify.path, pb.verify.port)
        self.journal.record(self.host.name, "facts", restart=asdict(restart_method), url=self.url,
                            master_pid=gathered.master.pid, effective=ins.effective(),
                            running_worker=ins.running_worker())
        before_gunicorn, before_dbs = ins.gunicorn, ins.databases()
        self.run.before = metrics(before_gunicorn, before_dbs, None)
        patched = ins.audit.patched
        self.run.diff = ins.audit.diff
        gaps = target_reached(before_gunicorn, before_dbs, pb)
        live_worker = ins.running_worker()
        needs_restart_only = not patched and not gaps and live_worker not in (None, pb.target.worker_class)
        if not patched and not gaps and not needs_restart_only:
            self.run.status = "unchanged"
            self.run.after = self.run.before
            return
        blockers = ins.blockers() + mismatches(self.host.vars, ins)
        if blockers:  # before any baseline or write: reported, never patched, --force or not
            self.run.stage = "plan"
            self.run.status = "refused"
            self.run.error = redact("refused: " + "; ".join(blockers) + "; nothing was changed")
            return
        if not patched and gaps:
            reasons = [f"/{f.file}:{f.line}: {f.reason}" for f in ins.audit.findings if f.action == "report"]
            raise StageError("plan", "cannot reach the target: " + "; ".join(gaps[:3])
                             + (" (" + "; ".join(reasons[:3]) + ")" if reasons else ""))
        self.stage("preflight")
        pre = check(ins, hosts_sharing_db(self.host, self.inventory))
        self.run.warnings, self.run.refusals = pre.warnings, pre.refusals
        if pre.refusals and not self.force:
            self.run.status = "refused"
            self.run.error = redact("refused: " + "; ".join(pre.refusals) + " (use --force to override)")
            return
        self.stage("baseline")
        pending = start_measure(self.remote, gathered, self.url, pb.verify.requests, 0, pb.verify.log_pattern)
        overlap = not needs_restart_only and files_unread_until_restart(before_gunicorn)
        if overlap:  # patch and check while the baseline's requests run against the old process
            self.journal.record(self.host.name, "overlap", reason="gunicorn rereads no file before the restart "
                                                                  "(no reload, no worker recycling without preload)")
            try:
                self._patch(ins, patched, gathered)
            except BaseException:
                pending.started.abandon()  # its requests are moot now; the files go back
                raise
            self.stage("baseline-wait")
        baseline = finish_measure(pending)
        self.run.before = metrics(before_gunicorn, before_dbs, baseline)
        if needs_restart_only:
            self.journal.record(self.host.name, "restart-only", reason=f"files already at target, live worker {live_worker}")
        elif not overlap:
            self._patch(ins, patched, gathered)
        self.stage("restart")
        changed = ["/" + p for p in patched]
        self.run.restart_commands = restart(self.remote, restart_method, changed, self.url, pb.restart_timeout_s)
        self.stage("verify")
        after = self._verify(gathered, baseline)
        self.run.after = after
        self.run.status = "remediated"
        self.journal.record(self.host.name, "remediated")

    def _patch(self, ins: Inspection, patched: dict[str, str], gathered: Gathered) -> None:
        self.stage("apply")
        self._apply(ins, patched)
        self.stage("check-config")
        self._check_config(gathered)

    def _apply(self, ins: Inspection, patched: dict[str, str]) -> None:
        backup_dir = f"{HOST_BACKUP_ROOT}/{self.journal.run_id}"
        python = interpreter(ins.gathered.master)
        for rel_path, text in patched.items():
            problem = validate_text("/" + rel_path, text)
            if problem:
                raise StageError("apply", f"/{rel_path}: the patched text does not parse: {problem}")
        # every planned file must still be what was planned before the first write
        current = self.remote.agent({"op": "read", "paths": ["/" + p for p in sorted(patched)], "sha_only": True})[0]
        for info in current["files"]:
            planned = ins.file(info["path"].lstrip("/")).sha256
            if info.get("sha256") != planned:
                raise StageError("apply", f"{info['path']} changed on the host since it was planned; "
                                          "nothing was written (run plan again)")
        for rel_path in sorted(patched):
            path = "/" + rel_path
            original = ins.file(rel_path)
            if original.content is None or original.sha256 is None:
                raise StageError("apply", f"{path}: original content unknown, refusing to write")
            if original.symlink:
                raise StageError("apply", f"{path} is a symlink (to {original.realpath}); refusing to patch")
            copy = self.journal.keep_original(self.host.name, path, original.content)
            self.journal.record(self.host.name, "change-intent", path=path, sha256_before=original.sha256,
                                backup=f"{backup_dir}{path}", controller_copy=str(copy),
                                mode=original.mode, uid=original.uid, gid=original.gid)
            self.written.append(path)
            new = patched[rel_path].encode()
            reply = self.remote.agent({
                "op": "write", "path": path, "expected_sha256": original.sha256,
                "content": base64.b64encode(new).decode(), "backup_dir": backup_dir,
                "validate": _validator(path), "python": None if ins.gathered.master.in_container else python,
            })[0]
            if not reply.get("ok"):
                raise StageError("apply", reply.get("error", f"{path}: write failed"))
            change = {"path": path, "sha256_before": reply["sha256_before"],
                      "sha256_after": reply["sha256_after"], "backup": reply["backup"]}
            self.journal.record(self.host.name, "change-done", **change)
            self.run.changes.append(change)

    def _check_config(self, gathered: Gathered) -> None:
        """Before restarting: the app's own loaders must now see the target values."""
        view = introspect(self.remote, gathered.master)
        self.config_view = view
        if view.get("errors"):
            raise StageError("check-config", "the patched config does not load: " + "; ".join(view["errors"]))
        gaps = target_reached(view.get("gunicorn") or {}, view.get("databases") or {}, self.playbook)
        if gaps:
            raise StageError("check-config", "after patching, " + "; ".join(gaps))

    def _verify(self, gathered: Gathered, baseline: Measurement) -> dict:
        pb, t = self.playbook, self.playbook.target
        probe = parse_probe(self.remote.agent({"op": "probe"})[0])
        master = probe.master()
        if master.pid == gathered.master.pid:
            raise StageError("verify", f"gunicorn master pid {master.pid} did not change: the restart did not happen")
        fresh = Gathered(probe, master, gathered.files, gathered.introspection, "", gathered.log_source)
        after = measure(self.remote, fresh, self.url, pb.verify.requests, pb.verify.warmup_requests(t),
                        pb.verify.log_pattern)
        master = parse_probe(self.remote.agent({"op": "probe"})[0]).master()
        after.worker_threads = [w.threads for w in master.workers]
        # the files cannot change under the host lock: check-config's view is the restarted app's
        view = self.config_view or introspect(self.remote, master)
        result = metrics(view.get("gunicorn") or {}, view.get("databases") or {}, after)
        logs = self.remote.agent({"op": "logs", "sources": [gathered.log_source], "bytes": 1 << 16})[0].get("app") \
            if gathered.log_source else ""
        used = USING_WORKER.findall(logs if isinstance(logs, str) else "")
        problems = []
        live = used[-1] if used else None
        if live != t.worker_class:
            problems.append(f"gunicorn logged `Using worker: {live}`, want {t.worker_class}")
        if t.worker_class == "gthread" and not any(n > 1 for n in after.worker_threads):
            problems.append(f"worker thread counts {after.worker_threads}: no gthread pool is running")
        if after.errors:
            problems.append(f"{after.errors} of {after.requests} requests failed")
        limit = pb.verify.max_new_connections(t)
        if after.new_db_connections is not None and after.new_db_connections > limit:
            connects = self._connects_in_log(after)
            if after.db_counter_scope == "server" and connects is not None and connects <= limit:
                # a server-wide counter (no per-user statistics) also counts every other client of the
                # server, e.g. the other hosts of a parallel rollout: the app's own log decides
                self.run.warnings.append(
                    f"the DB server's connection counter is server-wide: {after.new_db_connections} new connections "
                    f"in the window include other clients; the app's log shows {connects} connect(s) in "
                    f"{after.requests} requests (limit {limit})")
            else:
                problems.append(f"{after.new_db_connections} new DB connections in {after.requests} requests after "
                                f"warm-up (limit {limit})")
        th = pb.verify.thresholds
        p95_after = result["request_ms_p95"]
        p95_before = self.run.before.get("request_ms_p95") if self.run.before else None
        if th.max_request_ms_p95 is not None and p95_after is not None and p95_after > th.max_request_ms_p95:
            problems.append(f"request p95 {p95_after} ms > {th.max_request_ms_p95} ms")
        if th.max_p95_ratio is not None and p95_after is not None and p95_before:
            if p95_after > p95_before * th.max_p95_ratio:
                problems.append(f"request p95 {p95_after} ms > {th.max_p95_ratio} x baseline {p95_before} ms")
        if pb.verify.log_pattern and th.max_acquire_ms_p95 is not None:
            if not after.acquire_ms:
                problems.append("no acquisition-time lines matched verify.log_pattern in the app log")
            elif (result["acquire_ms_p95_reused"] or 0) > th.max_acquire_ms_p95:
                problems.append(f"connection acquisition p95 {result['acquire_ms_p95_reused']} ms on reused "
                                f"connections > {th.max_acquire_ms_p95} ms (all requests: p95 "
                                f"{result['acquire_ms_p95']} ms, {after.new_db_connections} new connections)")
        if problems:
            self.run.after = result
            raise StageError("verify", "; ".join(problems))
        return result

    def _connects_in_log(self, after: Measurement) -> int | None:
        """Requests whose acquisition took at least half the baseline's (a full connect each under
        gevent): connects the app itself logged; None without a baseline or acquisition lines."""
        connect_ms = (self.run.before or {}).get("acquire_ms_p50")
        if not connect_ms or not after.acquire_ms:
            return None
        return sum(1 for ms in after.acquire_ms if ms >= connect_ms / 2)

    def _rollback_after_failure(self, stage: str, message: str) -> None:
        self.run.error = redact(f"{stage}: {message}")
        self.progress(self.host.name, "rollback")
        self.journal.record(self.host.name, "rollback-start", reason=self.run.error)
        try:
            rollback_host(self.remote, self.journal, self.host.name, self.playbook.restart_timeout_s)
            self.run.status = "rolled_back"
        except RemediationError as exc:
            self.run.status = "failed"
            self.run.error = redact(f"{stage}: {message}; ROLLBACK FAILED: {exc}")


def restart_from_journal(journal: Journal, host: str) -> tuple[RestartMethod, str]:
    facts = [e for e in journal.events(host) if e["event"] == "facts"]
    if not facts:
        raise RemediationError(f"{host}: run {journal.run_id} recorded no facts to restart with")
    return RestartMethod(**facts[0]["restart"]), facts[0]["url"]


def rollback_host(remote: Remote, journal: Journal, host: str, timeout_s: int = 60) -> list[dict]:
    """Restore every file the run may have changed, byte-identical, then restart and check it serves."""
    intents = journal.changed_files(host)
    if not intents:
        return []
    items = []
    for event in intents:
        original = journal.original(host, event["path"])
        item = {"path": event["path"], "sha256": event["sha256_before"], "backup": event.get("backup"),
                "mode": event.get("mode"), "uid": event.get("uid"), "gid": event.get("gid")}
        if original is not None:
            item["content"] = base64.b64encode(original).decode()
        items.append({k: v for k, v in item.items() if v is not None})
    reply = remote.agent({"op": "restore", "files": items})[0]
    bad = [f for f in reply["files"] if not f.get("ok")]
    for f in reply["files"]:
        journal.record(host, "restored", path=f["path"], ok=f.get("ok"), source=f.get("source"), error=f.get("error"))
    if bad:
        raise RemoteError("; ".join(f"{f['path']}: {f.get('error')}" for f in bad))
    method, url = restart_from_journal(journal, host)
    restored = [f["path"] for f in reply["files"] if f.get("source") != "already"]
    reached_restart = any(e["event"] == "stage" and e["stage"] in ("restart", "verify") for e in journal.events(host))
    # restart when files changed back, or when the app may run the patched config (restart was reached
    # and not already undone); a rollback of a rollback restarts nothing
    if restored or (reached_restart and not journal.rolled_back_since_change(host)):
        restart(remote, method, restored or [i["path"] for i in items], url, timeout_s)
    wait_serving(remote, url, timeout_s)
    journal.record(host, "rolled-back")
    return reply["files"]
