"""Remediation tasks: `invoke --list` shows them all."""
from invoke import Collection

from remediation.demo import demo
from remediation.lab.tasks import lab_tasks

ns = Collection()
ns.add_task(demo)
ns.add_collection(lab_tasks)
