"""Remediation tasks: `invoke --list` shows them all."""
from invoke import Collection

from remediation.audit_task import audit
from remediation.bench_task import bench
from remediation.cli import inspect, plan, remediate, rollback, verify
from remediation.cli_fleet import history, rollout_task, unlock
from remediation.demo import demo
from remediation.lab.tasks import lab_tasks

ns = Collection()
for t in (inspect, plan, remediate, verify, rollback, rollout_task, history, unlock, audit, demo, bench):
    ns.add_task(t)
ns.add_collection(lab_tasks)
