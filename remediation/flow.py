"""The single-host flow: the stage sequence only.

connect, lock -> inspect (facts/) -> decide (plan/) -> baseline (verify/) -> apply (apply.py)
-> restart (restart.py, managers/) -> verify (verify/) -> done, or rollback (rollback.py) on any
failure after the first change. Every stage is journalled before it starts; every original
file is kept on the host and on the controller before it is changed.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

from remediation import apps, hooks, managers
from remediation.apply import apply_changes, check_config
from remediation.config.inventory import Host, Inventory
from remediation.config.playbook import Playbook, set_path_hint
from remediation.errors import HostUnreachable, InputError, LockHeld, RemediationError, StageError
from remediation.facts.gather import Gathered, gather, introspect, introspect_op, parse_introspection
from remediation.facts.parse import parse_probe
from remediation.journal import Journal
from remediation.model import AppView, HostRun, Stage, Status
from remediation.plan.decide import Verdict, decide, files_unread_until_restart, host_target, verify_path
from remediation.plan import neighbours
from remediation.plan.inspection import Inspection
from remediation.plan.restart_kind import RestartChoice, RestartKind, choose, reload_facts, restart_plan
from remediation.redact import redact
from remediation.reload import Applied, apply_restart
from remediation.rollback import rollback_host
from remediation.transport import lock
from remediation.transport.protocol import Logs, Probe, Request
from remediation.transport.remote import Remote
from remediation.verify.measure import Measurement, app_url, finish_measure, measure, start_measure
from remediation.verify.verdict import baseline_unproving, judge, metrics
from remediation.verify.reload_proof import since_reload
from remediation.verify.worker_proof import LogEvidence, ProcessEvidence, log_evidence


class HostFlow:
    """One host's remediation over one SSH connection."""

    def __init__(self, host: Host, inventory: Inventory, playbook: Playbook, journal: Journal, *,
                 force: bool = False, accept_new_host_key: bool = False,
                 progress: Callable[[str, str], None] | None = None,
                 remote_factory: Callable[..., Remote] = Remote, app: str | None = None,
                 parent: "HostFlow | None" = None):
        self.host, self.inventory, self.playbook, self.journal = host, inventory, playbook, journal
        self.app, self.parent = app, parent  # one app's flow under its host's (parent) connection and lock
        self.only_app: str | None = None  # --app NAME (host level)
        self.children: list[HostFlow] = []
        self.chosen: list[str] = []  # the apps this run works on, in order (host level)
        self.probe: dict | None = None  # a probe reply the app's inspection may reuse
        self.force, self.accept_new_host_key = force, accept_new_host_key
        self.progress = progress or (lambda host, stage: None)
        self.remote_factory = remote_factory  # Remote; tests pass a fake host (tests/fakeremote.py)
        self.run = HostRun(host.name, app=app)
        self.remote: Remote = None  # type: ignore[assignment]  # execute() sets it before any stage runs
        self.url = ""
        self.written: list[str] = []
        self.restart_only = False  # files at the target already; only the live worker is not
        self.target = playbook.target  # the playbook's target as it applies to this host (after inspect)
        self.config_view: AppView | None = None  # the app's view of the patched files (check-config)
        self.rereads_files = True  # the running gunicorn may read changed files before a restart
        self.hooks = host.hooks or hooks.check(host.name, host.vars)  # drain/ready
        self.drained = False
        self.choice: RestartChoice | None = None  # the gentlest restart that applies the change
        self.applied: Applied | None = None  # how it was applied (a HUP may fall back)

    def stage(self, name: Stage) -> None:
        self.run.stage = name
        self.journal.record(self.host.name, "stage", stage=str(name))
        self.progress(self.host.name, str(name))

    def execute(self) -> HostRun:
        started = time.monotonic()
        try:
            with self.remote_factory(self.host, accept_new_host_key=self.accept_new_host_key) as remote:
                self.remote = remote
                if self._lock():
                    try:
                        self._apps_flow()
                    except HostUnreachable:
                        raise
                    except RemediationError as exc:
                        self._failed(getattr(exc, "stage", self.run.stage), str(exc))
                    self._ready()
                    lock.release(remote, self.journal.run_id)
        except HostUnreachable as exc:
            self._gather_children()
            if self.written:
                self._end(Status.FAILED, f"{self.run.stage}: {exc}; files were changed: run "
                                         f"`invoke rollback --host {self.host.name} --run {self.journal.run_id}`")
            else:
                self._end(Status.UNREACHABLE, str(exc))
            if self.drained:
                self.run.error = redact(f"{self.run.error}; the host was drained and the ready command was not run")
        finally:
            self.run.seconds = round(time.monotonic() - started, 2)
            self.journal.record(self.host.name, "result", status=str(self.run.status), error=self.run.error)
        return self.run

    def _lock(self) -> bool:
        self.stage(Stage.LOCK)
        try:
            lock.acquire(self.remote, self.journal.run_id)
            return True
        except LockHeld as exc:
            self._end(Status.REFUSED, str(exc))
        except HostUnreachable:
            raise
        except RemediationError as exc:
            self._end(Status.FAILED, f"lock: {exc}")
        return False

    def _apps_flow(self) -> None:
        """Every chosen gunicorn app of the host, one after the other, under this connection and
        lock (apps.py names and chooses them); the host's run sums theirs up."""
        self.stage(Stage.INSPECT)
        self.probe = dict(self.remote.probe())
        names = list(apps.named(parse_probe(self.probe).masters))
        if not names:
            self._flow()  # no master: the inspection says so, as on any host
            return
        try:
            choice = apps.choose(self.host.name, names, self.host.vars, self.only_app)
        except InputError as exc:
            self.run.stage = Stage.INSPECT
            self._end(Status.REFUSED, f"{exc}; nothing was changed")
            return
        self.run.skipped, self.chosen = choice.skipped, choice.apps
        for name in choice.skipped:
            self.journal.record(self.host.name, "app-skipped", app=name, reason=choice.skipped[name])
        for name in choice.apps:
            child = HostFlow(self.host, self.inventory, self.playbook, self.journal.for_app(name), force=self.force,
                             progress=self.progress, app=name, parent=self)
            child.remote, child.probe = self.remote, self.probe
            self.probe = None  # later apps probe again: an app fixed before them changed the host
            self.children.append(child)
            child.run_app()
            if child.run.status == Status.FAILED and (child.written or child.run.stage == Stage.DRAIN):
                break  # a rollback that failed (or a failed drain) leaves the host to a person
        self._gather_children()

    def unchanged_for(self, app: str) -> frozenset[str]:
        """Files the apps fixed before `app` in this run wrote without changing what `app` loads
        from them (plan/neighbours.py: its own part of a shared manager file left as it was, or
        no setting it runs changed)."""
        return frozenset(row["path"] for child in self.children for row in child.run.shared
                         if row["neighbour"] == app and ("part" in row or not row.get("changes_for_neighbour")))

    def run_app(self) -> None:
        """This app's stages, its failures rolled back (its own files, its own restart)."""
        started = time.monotonic()
        try:
            self._flow()
        except HostUnreachable:
            raise
        except RemediationError as exc:
            self._failed(getattr(exc, "stage", self.run.stage), str(exc))
        finally:
            self.run.seconds = round(time.monotonic() - started, 2)
            self.journal.record(self.host.name, "app-result", status=str(self.run.status), error=self.run.error)

    def _gather_children(self) -> None:
        """The host's run from its apps' runs: one app alone is the host's run (its fields as they
        were before several apps were told apart); several: the worst status, each app's error and
        changes named, the metrics per app in `apps`."""
        if not self.children:
            return
        runs = [c.run for c in self.children]
        self.written = [p for c in self.children for p in c.written]
        self.run.apps = {r.app or "": r.as_json() for r in runs}
        if len(runs) == 1 and not self.run.skipped:
            keep = (self.run.name, self.run.apps, self.run.skipped, self.run.seconds)
            self.run.__dict__.update({k: v for k, v in runs[0].__dict__.items()})
            self.run.name, self.run.apps, self.run.skipped, self.run.seconds = keep
            self.run.app = None
            return
        order = [Status.FAILED, Status.ROLLED_BACK, Status.REFUSED, Status.PENDING, Status.REMEDIATED, Status.UNCHANGED]
        worst = min(runs, key=lambda r: order.index(r.status) if r.status in order else 0)
        self.run.status, self.run.stage = worst.status, worst.stage
        errors = [f"{r.app}: {r.error}" for r in runs if r.error]
        self.run.error = redact("; ".join(errors)) if errors else None
        self.run.changes = [{**c, "app": r.app} for r in runs for c in r.changes]
        self.run.warnings = [f"{r.app}: {w}" for r in runs for w in r.warnings]
        self.run.refusals = [f"{r.app}: {w}" for r in runs for w in r.refusals]
        self.run.diff = "".join(r.diff for r in runs)
        self.run.restart_commands = [c for r in runs for c in r.restart_commands]
        self.run.shared = [{**s, "app": r.app} for r in runs for s in r.shared]

    def _end(self, status: Status, message: str | None = None) -> None:
        self.run.status = status
        if message is not None:
            self.run.error = redact(message)

    def _flow(self) -> None:
        pb = self.playbook
        if self.probe is None:  # else the host's inspection has just begun with this probe
            self.stage(Stage.INSPECT)
        else:
            self.run.stage = Stage.INSPECT
        gathered = gather(self.remote, app=self.app, probe=self.probe)
        ins = Inspection.build(self.host.name, gathered, pb.target)
        if self.parent is not None:
            ins.unchanged_for_me = self.parent.unchanged_for(gathered.app)
        self.url = app_url(gathered, self.host.vars, verify_path(gathered.app, self.host.vars, pb), pb.verify.port) or ""
        self.journal.record(self.host.name, "facts", restart=asdict(gathered.master.restart), url=self.url,
                            master_pid=gathered.master.pid, effective=ins.effective(),
                            running_worker=ins.running_worker())
        self.run.before = metrics(ins.gunicorn, ins.databases(), None)
        self.run.diff = ins.audit.diff
        self.target = host_target(ins.gunicorn, ins.versions(), pb.target)
        if not self._go(ins) or not self._neighbours(ins, gathered):
            return
        self._choose_restart(ins)
        self._drain()
        baseline = self._baseline(ins, gathered)
        if baseline is None:
            return
        self.stage(Stage.RESTART)
        view = self.config_view.gunicorn if self.config_view is not None else ins.gunicorn
        assert self.choice is not None
        self.applied = Applied(self.choice.kind)
        try:
            apply_restart(self.remote, self.journal, self.host.name, self.choice.kind, gathered.master,
                          gathered.master.restart, ins.patched_paths(), self.url, pb.restart_timeout_s,
                          want=int(view.get("workers") or 1), applied=self.applied)
        finally:  # what ran, also when the manager's restart failed
            self.run.restart_commands = self.applied.commands
            self.run.restart_kind = {**(self.run.restart_kind or {}), "applied": str(self.applied.kind),
                                     "fallback": self.applied.fallback}
        self.stage(Stage.VERIFY)
        self.run.after = self._verify(gathered, baseline)
        self._end(Status.REMEDIATED)
        self.journal.record(self.host.name, "remediated")

    def _choose_restart(self, ins: Inspection) -> None:
        """The gentlest restart that applies this change (plan/restart_kind.py), journalled: the
        rollback makes the same choice in reverse."""
        self.choice = choose(reload_facts(ins, self.target, self.restart_only, self.host.vars))
        self.run.restart_kind = restart_plan(ins, self.choice)
        self.journal.record(self.host.name, "restart-kind", **self.run.restart_kind)

    def _go(self, ins: Inspection) -> bool:
        """The go/no-go (plan/decide.py); False when the run ends here."""
        decision = decide(ins, self.host, self.inventory, self.playbook, force=self.force)
        if decision.verdict == Verdict.UNCHANGED:
            self._end(Status.UNCHANGED)
            self.run.after = self.run.before
            return False
        if decision.verdict == Verdict.BLOCKED:  # before any baseline or write: --force or not
            self.run.stage = Stage.PLAN
            self._end(Status.REFUSED, decision.reason)
            return False
        if decision.verdict == Verdict.UNREACHABLE_TARGET:
            raise StageError(Stage.PLAN, decision.reason)
        self.stage(Stage.PREFLIGHT)
        self.run.warnings, self.run.refusals = decision.warnings, decision.refusals
        if decision.verdict == Verdict.PREFLIGHT_REFUSED:
            self._end(Status.REFUSED, decision.reason)
            return False
        self.restart_only = decision.restart_only
        return True

    def _neighbours(self, ins: Inspection, gathered: Gathered) -> bool:
        """Files the fix shares with the host's other apps (plan/neighbours.py): refused before any
        change when it would alter a neighbour, else reported; False when the run ends here."""
        if len(gathered.facts.masters) < 2 or not ins.patched_paths():
            return True
        chosen = self.parent.chosen if self.parent is not None else []
        later = set(chosen[chosen.index(self.app) + 1:]) if self.app in chosen else set()
        shared, blockers = neighbours.check(ins, neighbours.read(self.remote, gathered.facts, gathered.app, gathered.files), later)
        self.run.shared = shared
        if blockers:
            self._end(Status.REFUSED, "refused: " + "; ".join(blockers) + "; nothing was changed")
            return False
        self.run.warnings += [neighbours.describe(row) for row in shared]
        if shared:
            self.journal.record(self.host.name, "shared-files", shared=shared)
        return True

    def _drain(self) -> None:
        """The host out of its load balancer before the first change (hooks.py); a failing drain
        stops the host here, nothing changed."""
        if self.parent is not None:  # one drain for the host, before its first app's first change
            if self.parent.hooks.drain and not self.parent.drained:
                self.run.stage = Stage.DRAIN
            self.parent._drain()
            return
        if not self.hooks.drain or self.drained:
            return
        self.stage(Stage.DRAIN)
        try:
            hooks.run("drain", self.hooks.drain, self.hooks, hooks.environment(self.host.name, self.host.address, self.host.vars),
                      self.remote)
        except hooks.HookFailed as exc:
            raise StageError(Stage.DRAIN, f"{exc}; nothing was changed, and the ready command was not run") from None
        self.drained = True
        self.journal.record(self.host.name, "drained")

    def _ready(self) -> None:
        """The host back into its load balancer once it serves: remediated, rolled back, or
        stopped before a change. A host whose rollback failed stays out."""
        if not (self.drained and self.hooks.ready):
            return
        if self.run.status == Status.FAILED and self.written:
            self.run.error = redact(f"{self.run.error}; the host stays drained (the ready command was not run)")
            return
        self.progress(self.host.name, str(Stage.READY))
        try:
            hooks.run("ready", self.hooks.ready, self.hooks, hooks.environment(self.host.name, self.host.address, self.host.vars),
                      self.remote)
        except (hooks.HookFailed, RemediationError) as exc:
            outcome = f"{self.run.status}{': ' + self.run.error if self.run.error else ''}"
            self.run.stage = Stage.READY
            self._end(Status.FAILED, f"ready: {exc}; the host is still drained (the run itself: {outcome})")
            return
        self.journal.record(self.host.name, "ready")

    def _baseline(self, ins: Inspection, gathered: Gathered) -> Measurement | None:
        """Measure before; patch meanwhile when gunicorn rereads no file before the restart.
        None when the baseline cannot make a proof (the run ends refused, nothing changed)."""
        pb = self.playbook
        self.stage(Stage.BASELINE)
        pending = start_measure(self.remote, gathered, self.url, pb.verify.requests, 0, pb.verify.log_pattern,
                                concurrency=pb.verify.concurrency(self.target),
                                request_timeout_s=pb.verify.timeout_s)
        self.rereads_files = not files_unread_until_restart(ins.gunicorn)
        overlap = not self.restart_only and not self.rereads_files
        if overlap:  # patch and check while the baseline's requests run against the old process
            self.journal.record(self.host.name, "overlap", reason="gunicorn rereads no file before the restart "
                                                                  "(no reload, no worker recycling without preload)")
            try:
                self._patch(ins, gathered)
            except BaseException:
                pending.started.abandon()  # its requests are moot now; the files go back
                raise
            self.stage(Stage.BASELINE_WAIT)
        baseline = finish_measure(pending)
        self.journal.record(self.host.name, "baseline-requests", seconds=baseline.window_s)
        self.run.before = metrics(ins.gunicorn, ins.databases(), baseline)
        unproving = baseline_unproving(ins.gunicorn, ins.databases(), baseline)
        if unproving:
            self._refuse_unproving(unproving, patched=overlap)
            return None
        if self.restart_only:
            self.journal.record(self.host.name, "restart-only",
                                reason="files already at target, written after the running master started: "
                                       f"{', '.join(ins.written_since_start() or [])} (logged worker "
                                       f"{ins.running_worker()})")
        elif not overlap:
            self._patch(ins, gathered)
        return baseline

    def _refuse_unproving(self, reason: str, patched: bool) -> None:
        """End refused before any restart; files patched meanwhile go back (the process never read them)."""
        self.journal.record(self.host.name, "unproving-baseline", reason=reason, url=self.url)
        undone = ""
        if patched and self.written:
            rollback_host(self.remote, self.journal, self.host.name, self.playbook.restart_timeout_s,
                          process_read_changes=self._process_read_changes())
            undone = "; the files patched meanwhile were restored byte-identical, the app never read them"
        self._end(Status.REFUSED, f"refused: {reason} (verify URL {self.url}): {set_path_hint(self.playbook.path)}"
                                  f"{undone or '; nothing was changed'}")

    def _patch(self, ins: Inspection, gathered: Gathered) -> None:
        self.stage(Stage.APPLY)
        apply_changes(self.remote, self.journal, self.run, ins, self.written)
        self.stage(Stage.CHECK_CONFIG)
        self.config_view = check_config(self.remote, ins, self.target)

    def _verify(self, gathered: Gathered, baseline: Measurement) -> dict:
        pb = self.playbook
        probe = parse_probe(dict(self.remote.probe()))
        master = probe.master(self.app)
        reloaded = self.applied is not None and self.applied.kind == RestartKind.RELOAD_HUP
        if reloaded and master.pid != gathered.master.pid:
            raise StageError(Stage.VERIFY, f"gunicorn master pid {gathered.master.pid} was reloaded, but pid "
                                           f"{master.pid} runs now")
        if not reloaded and master.pid == gathered.master.pid:
            raise StageError(Stage.VERIFY, f"gunicorn master pid {master.pid} did not change: the restart did not happen")
        # a recreated container has a new id: the log is the restarted process's, from its manager
        log_source = managers.of(master.restart).proof_log_source(master.restart, gathered.files, master.pid) \
            or gathered.log_source
        fresh = Gathered(probe, master, gathered.files, gathered.introspection, "", log_source)
        after = measure(self.remote, fresh, self.url, pb.verify.requests, pb.verify.warmup_requests(self.target),
                        pb.verify.log_pattern, concurrency=pb.verify.concurrency(self.target),
                        request_timeout_s=pb.verify.timeout_s)
        # the proof, read from the restarted process in one round trip: its workers' threads, gunicorn's
        # own loader on its real argv, environment and files (unchanged since: the host lock), its log
        ops: list[Request] = [Probe(), introspect_op(master, want_db=False)]
        ops += [Logs([log_source], bytes=1 << 20, lines=2000)] if log_source else []
        replies = [envelope.data for envelope in self.remote.call(*ops, parallel=True)]
        after.worker_threads = [w.threads for w in parse_probe(replies[0]).master(self.app).workers]
        try:
            loaded_view = parse_introspection(replies[1])
            loaded = (loaded_view.gunicorn or {}).get("worker_class")
            loaded_error = "; ".join(loaded_view.errors) or None
        except RemediationError as exc:
            loaded_view, loaded, loaded_error = None, None, str(exc)
        process = ProcessEvidence(tuple(sorted({master.pid, master.nspid or master.pid})), loaded, loaded_error,
                                  after.worker_threads)
        log = log_evidence(log_source, replies[2].get("app") if log_source else None)
        if reloaded:  # a reload logs no `Using worker` line: only what the master logged since counts
            text = since_reload(log.text, process.master_pids)
            log = LogEvidence(text, log.where, log.error or "no `Handling signal: hup` line of the master",
                              reloaded=text is not None)
        # the files cannot change under the host lock: the restarted app's own view, else check-config's
        view = loaded_view if loaded_view is not None and loaded_view.gunicorn else self.config_view
        view = view or introspect(self.remote, master)
        result = metrics(view.gunicorn, view.databases, after)
        verdict = judge(self.run.before, result, after, pb, self.target, process, log)
        self.run.warnings += verdict.warnings
        if verdict.problems:
            self.run.after = result
            raise StageError(Stage.VERIFY, "; ".join(verdict.problems))
        return result

    def _process_read_changes(self) -> bool:
        """Whether the app may be running the changed files: a restart was started, or gunicorn
        rereads files on its own. If not, putting the files back is the whole rollback."""
        return self.rereads_files or self.run.stage in (Stage.RESTART, Stage.VERIFY)

    def _failed(self, stage: str, message: str) -> None:
        """A stage failed: roll back when anything was written, else just record the failure."""
        if not self.written:
            self._end(Status.FAILED, f"{stage}: {message}")
            return
        self.run.error = redact(f"{stage}: {message}")
        self.progress(self.host.name, str(Stage.ROLLBACK))
        self.journal.record(self.host.name, "rollback-start", reason=self.run.error)
        try:
            rollback_host(self.remote, self.journal, self.host.name, self.playbook.restart_timeout_s,
                          process_read_changes=self._process_read_changes())
            self._end(Status.ROLLED_BACK)
        except RemediationError as exc:
            self._end(Status.FAILED, f"{stage}: {message}; ROLLBACK FAILED: {exc}")
