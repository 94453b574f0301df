"""Fleet rollout: a canary batch, then batches in order, hosts in parallel on a bounded
pool, a failure threshold, and a journal that allows resume and whole-run rollback."""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from remediation.config.inventory import Host, Inventory
from remediation.config.playbook import Playbook
from remediation.errors import InputError
from remediation.fleet.progress import Progress
from remediation.fleet.rollback import rollback_fleet
from remediation.flow import HostFlow
from remediation.journal import Journal
from remediation.model import DONE_STATUSES, FAILED_STATUSES, FleetResult, HostRun, Outcome, Status

FAILED, DONE = FAILED_STATUSES, DONE_STATUSES


def parse_serial(serial: str | None) -> list[str]:
    if serial is None or str(serial).strip() == "":
        return ["100%"]
    entries = [part.strip() for part in str(serial).split(",") if part.strip()]
    for entry in entries:
        number = entry[:-1] if entry.endswith("%") else entry
        if not number.isdigit() or int(number) <= 0 or (entry.endswith("%") and int(number) > 100):
            raise InputError(f"--serial: {entry!r} is not a positive count or a percentage (1-100%)")
    return entries


def batches(hosts: list, serial: str | None) -> list[list]:
    """Split hosts into batches like Ansible's `serial`: counts or percentages, the last repeats."""
    entries = parse_serial(serial)
    total = len(hosts)
    out, index, position = [], 0, 0
    while position < total:
        entry = entries[min(index, len(entries) - 1)]
        size = max(1, math.ceil(total * int(entry[:-1]) / 100)) if entry.endswith("%") else int(entry)
        out.append(hosts[position:position + size])
        position += size
        index += 1
    return out


@dataclass
class RolloutResult:
    journal: Journal
    runs: dict[str, HostRun] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)
    stopped: str | None = None  # why the rollout stopped early
    skipped: list[str] = field(default_factory=list)
    aborted_rollbacks: FleetResult = field(default_factory=FleetResult)

    @property
    def failed(self) -> list[HostRun]:
        return [r for r in self.runs.values() if r.status in FAILED]

    def as_json(self) -> dict:
        return {"run_id": self.journal.run_id, "batches": self.batches, "stopped": self.stopped,
                "skipped": self.skipped, "aborted_rollbacks": {n: o.line() for n, o in self.aborted_rollbacks.outcomes.items()},
                "hosts": {name: run.as_json() for name, run in self.runs.items()}}


def _fail_percentage(runs: list[HostRun]) -> float:
    return 100.0 * sum(1 for r in runs if r.status in FAILED) / max(1, len(runs))


def rollout(inventory: Inventory, hosts: list[Host], playbook: Playbook, journal: Journal, *, serial: str | None,
            max_fail_percentage: float, forks: int, force: bool = False, rollback_on_abort: bool = False,
            accept_new_host_key: bool = False, progress: Progress | None = None,
            done: dict[str, HostRun] | None = None) -> RolloutResult:
    """Run the single-host flow over the fleet, batch by batch."""
    progress = progress or Progress()
    result = RolloutResult(journal)
    result.runs.update(done or {})
    plan = batches(hosts, serial)
    result.batches = [[h.name for h in batch] for batch in plan]
    journal.record("*", "rollout-plan", batches=result.batches, serial=serial, forks=forks,
                   max_fail_percentage=max_fail_percentage, rollback_on_abort=rollback_on_abort, force=force)
    for number, batch in enumerate(plan, 1):
        todo = [h for h in batch if h.name not in result.runs or result.runs[h.name].status not in DONE]
        label = "canary" if number == 1 else f"batch {number}/{len(plan)}"
        progress.set_batch(f"{label}: {', '.join(h.name for h in batch)}")
        journal.record("*", "batch-start", batch=number, hosts=[h.name for h in batch])

        def one(host: Host) -> HostRun:
            flow = HostFlow(host, inventory, playbook, journal, force=force, accept_new_host_key=accept_new_host_key,
                            progress=lambda h, stage: progress.update(h, stage))  # noqa: B023 - h is the lambda's
            run = flow.execute()
            progress.update(host.name, run.stage, run.status)
            return run

        with ThreadPoolExecutor(max_workers=max(1, min(forks, len(todo) or 1))) as pool:
            for run in pool.map(one, todo):
                result.runs[run.name] = run
        batch_runs = [result.runs[h.name] for h in batch]
        journal.record("*", "batch-end", batch=number,
                       statuses={h.name: result.runs[h.name].status for h in batch})
        pct = _fail_percentage(batch_runs)
        if pct > max_fail_percentage:
            failed = [r.name for r in batch_runs if r.status in FAILED]
            result.stopped = (f"{label}: {len(failed)} of {len(batch)} hosts failed ({pct:.0f}% > "
                              f"--max-fail-percentage {max_fail_percentage:g}): {', '.join(failed)}")
            rest = [h.name for later in plan[number:] for h in later]
            result.skipped = rest
            journal.record("*", "rollout-stopped", reason=result.stopped, skipped=rest)
            if rollback_on_abort:
                changed = [name for name, run in result.runs.items() if run.status == Status.REMEDIATED]
                result.aborted_rollbacks = rollback_fleet(inventory, changed, journal, forks=forks,
                                                          accept_new_host_key=accept_new_host_key, progress=progress)
                for name, outcome in result.aborted_rollbacks.outcomes.items():
                    if outcome.outcome == Outcome.DONE:
                        result.runs[name].status = Status.ROLLED_BACK
                        result.runs[name].error = "rolled back: the rollout was aborted"
            break
    journal.record("*", "rollout-end", stopped=result.stopped)
    return result


def resume_state(journal: Journal) -> tuple[dict, dict[str, HostRun], list[str]]:
    """From an interrupted rollout's journal: its options, the hosts already done, the ones mid-flight."""
    plan = [e for e in journal.events("*") if e["event"] == "rollout-plan"]
    if not plan:
        raise InputError(f"run {journal.run_id} is not a rollout")
    done: dict[str, HostRun] = {}
    for event in journal.events():
        if event["event"] == "result" and event["status"] in DONE:
            done[event["host"]] = HostRun(event["host"], status=event["status"], stage="done")
    started = {e["host"] for e in journal.events() if e["event"] == "stage"}
    mid_flight = sorted(h for h in started if h not in done and journal.changed_files(h)
                        and not journal.rolled_back_since_change(h))
    return plan[0], done, mid_flight
