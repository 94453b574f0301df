"""Where one host's tool time goes: every agent round trip of an inspect, timed on the controller,
beside the ops it carried, the host's own CPU for them, and the discovery on the controller.

    python -m bench.profile_host --host lab1 [--inventory inventory/lab.yml] [--repeat 3]

It changes nothing on the host (inspect only: probe, reads, the app's own view, DB counters).
What it prints is what bounds a batch's overhead when the machine is not the bottleneck: a
rollout batch runs these same round trips on every host at once.
"""
from __future__ import annotations

import argparse
import statistics
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--inventory", default="inventory/lab.yml")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
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
    main()
