"""Where one host's tool time goes: every agent round trip of an inspect, timed on the controller,
beside the ops it carried, the host's own CPU for them, and the discovery on the controller.

    python -m bench.profile_host --host lab1 [--inventory inventory/lab.yml] [--repeat 3]
    python -m bench.profile_host --hosts lab1,lab2,... [--inventory inventory/lab.yml]

It changes nothing on the host (inspect only: probe, reads, the app's own view, DB counters).
With --host, what it prints is what bounds a batch's overhead when the machine is not the
bottleneck: a rollout batch runs these same round trips on every host at once. With --hosts,
the inspects of a whole batch at once (a thread per host, as a rollout runs them), beside the
machine's busy CPU-seconds over that window: the CPU floor (busy / CPUs) next to the wall time
says whether the batch waited on the machine's CPUs or on the hosts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from remediation.config.inventory import load_inventory
from remediation.facts.gather import gather
from remediation.plan.inspection import Inspection
from remediation.config.playbook import load_playbook
from remediation.transport.remote import Remote


class TimedRemote:
    """Wraps a Remote: each agent round trip's wall time and its ops."""

    def __init__(self, remote: Remote):
        self.remote, self.trips = remote, []

    def agent(self, *ops, **kwargs):
        started = time.perf_counter()
        try:
            return self.remote.agent(*ops, **kwargs)
        finally:
            self.trips.append(("+".join(op["op"] for op in ops), time.perf_counter() - started))

    def __getattr__(self, name):
        return getattr(self.remote, name)


def profile(host_name: str, inventory: str, repeat: int) -> list[dict]:
    inv = load_inventory(inventory)
    host = inv.host(host_name)
    rows = []
    started = time.perf_counter()
    with Remote(host) as remote:
        remote.agent({"op": "probe"})  # the connection, sudo and the agent's start, once per run
        connect_s = time.perf_counter() - started
        for i in range(repeat):
            timed = TimedRemote(remote)
            started = time.perf_counter()
            gathered = gather(timed)
            gathered_s = time.perf_counter() - started
            t = time.perf_counter()
            Inspection.build(host_name, gathered, load_playbook().target)
            rows.append({"run": i + 1, "trips": timed.trips, "gather_s": gathered_s,
                         "discovery_s": time.perf_counter() - t, "connect_s": connect_s})
            connect_s = None
    return rows


def inspect_once(host, target) -> dict:
    """One host's connect and inspect, as a rollout's first stages run them."""
    started = time.perf_counter()
    with Remote(host) as remote:
        timed = TimedRemote(remote)
        gathered = gather(timed)
        Inspection.build(host.name, gathered, target)
    return {"host": host.name, "wall_s": time.perf_counter() - started, "trips": timed.trips}


def profile_batch(host_names: list[str], inventory: str) -> dict:
    from bench.run import machine_busy_s

    inv = load_inventory(inventory)
    hosts, target = [inv.host(name) for name in host_names], load_playbook().target
    busy, started, mine = machine_busy_s(), time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        rows = list(pool.map(lambda h: inspect_once(h, target), hosts))
    wall, busy = time.perf_counter() - started, machine_busy_s() - busy
    return {"rows": rows, "wall_s": wall, "busy_cpu_s": busy, "controller_cpu_s": time.process_time() - mine,
            "cpus": os.cpu_count() or 1}


def print_batch(result: dict) -> None:
    rows, cpus = result["rows"], result["cpus"]
    floor = result["busy_cpu_s"] / cpus
    print(f"{len(rows)} hosts inspected at once in {result['wall_s']:.2f} s; the machine was busy "
          f"{result['busy_cpu_s']:.2f} CPU-s over {cpus} CPUs: CPU floor {floor:.2f} s "
          f"({100 * floor / result['wall_s']:.0f}% of the wall time); the controller's own CPU "
          f"{result['controller_cpu_s']:.2f} s, the hosts' {result['busy_cpu_s'] - result['controller_cpu_s']:.2f} s")
    for row in sorted(rows, key=lambda r: r["host"]):
        trips = ", ".join(f"{ops} {s * 1000:.0f} ms" for ops, s in row["trips"])
        print(f"  {row['host']}: {row['wall_s']:.2f} s [{trips}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--host")
    which.add_argument("--hosts", help="comma-separated: inspect them all at once")
    parser.add_argument("--inventory", default="inventory/lab.yml")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.hosts:
        print_batch(profile_batch([h for h in args.hosts.split(",") if h], args.inventory))
        return
    started = time.perf_counter()
    rows = profile(args.host, args.inventory, args.repeat)
    print(f"{args.host}: {args.repeat} inspects in {time.perf_counter() - started:.2f} s (one SSH connection)")
    for row in rows:
        trips = ", ".join(f"{ops} {s * 1000:.0f} ms" for ops, s in row["trips"])
        first = f"connect + agent start + probe {row['connect_s'] * 1000:.0f} ms; " if row["connect_s"] else ""
        print(f"  run {row['run']}: {first}gather {row['gather_s'] * 1000:.0f} ms [{trips}]; "
              f"discovery on the controller {row['discovery_s'] * 1000:.0f} ms")
    totals = [sum(s for _, s in row["trips"]) for row in rows]
    print(f"  agent round trips, median {statistics.median(totals) * 1000:.0f} ms per inspect")


if __name__ == "__main__":
    from remediation.errors import RemediationError

    try:
        main()
    except RemediationError as exc:
        raise SystemExit(f"profile_host: {exc}")
