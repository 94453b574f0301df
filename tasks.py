"""Remediation tasks: `invoke --list` shows them all."""
from invoke import Collection

from remediation.audit_task import audit
from remediation.cli import inspect, plan, remediate, rollback, verify
from remediation.demo import demo
from remediation.lab.tasks import lab_tasks

ns = Collection()
for t in (inspect, plan, remediate, verify, rollback, audit, demo):
    ns.add_task(t)
ns.add_collection(lab_tasks)
