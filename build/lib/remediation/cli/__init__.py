"""The product's tasks as one invoke collection, and the installed console command."""
from __future__ import annotations

from invoke import Collection, Program

from remediation import __version__
from remediation.cli.audit import audit
from remediation.cli.fleet import history, rollout_task, unlock
from remediation.cli.host import inspect, plan, remediate, rollback, verify

PRODUCT_TASKS = (inspect, plan, remediate, verify, rollback, rollout_task, history, unlock, audit)


def collection() -> Collection:
    """Every product task; the checkout's tasks.py adds the lab, bench and demo to it."""
    ns = Collection()
    for t in PRODUCT_TASKS:
        ns.add_task(t)
    ns.configure({"remediation": {"inventory": None, "runs_dir": None}})
    return ns


program = Program(namespace=collection(), version=__version__, name="remediation", binary="remediation")


def main() -> None:
    """Console entry point: `remediation remediate --host prod1` (same tasks as `invoke`)."""
    program.run()
