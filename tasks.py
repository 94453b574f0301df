"""Remediation tasks: `invoke --list` shows them all."""
from invoke import Collection

from remediation.cli.audit import audit
from bench.tasks import bench
from remediation.cli.host import inspect, plan, remediate, rollback, verify
from remediation.cli.fleet import history, rollout_task, unlock
from lab.demo import demo
from lab.tasks import lab_tasks

ns = Collection()
for t in (inspect, plan, remediate, verify, rollback, rollout_task, history, unlock, audit, demo, bench):
    ns.add_task(t)
ns.add_collection(lab_tasks)
