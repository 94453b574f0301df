"""Remediation tasks: `invoke --list` shows them all."""
from invoke import Collection

from remediation.lab.tasks import lab_tasks

ns = Collection()
ns.add_collection(lab_tasks)
