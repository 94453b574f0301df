"""Remediation tasks in the checkout: the product's, plus the lab, the benchmarks and the demo
(`invoke --list` shows them all)."""
from bench.tasks import bench
from lab.demo import demo
from lab.tasks import lab_tasks
from remediation.cli import collection

ns = collection()
ns.add_task(demo)
ns.add_task(bench)
ns.add_collection(lab_tasks)
