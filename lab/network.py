"""The lab's network: one bridge in the root namespace, one namespace + veth per host.

Only addresses inside the namespaces and on the lab's own bridge are used; no default
route is added and ip_forward is never touched.
"""
from __future__ import annotations

from lab import config
from lab.config import HostSpec
from lab.sh import ok, run


def ensure_bridge(bridge: str = config.BRIDGE, address: str = config.BRIDGE_ADDRESS) -> bool:
    """Create a lab bridge with the controller's address on it; True when created now."""
    if ok(["ip", "link", "show", bridge]):
        run(["ip", "link", "set", bridge, "up"])
        return False
    run(["ip", "link", "add", bridge, "type", "bridge"])
    run(["ip", "addr", "add", f"{address}/24", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])
    return True


def remove_bridge(bridge: str = config.BRIDGE) -> None:
    if ok(["ip", "link", "show", bridge]):
        run(["ip", "link", "del", bridge])


def namespaces(prefix: str = config.NETNS_PREFIX) -> list[str]:
    """Every namespace with this prefix present now (including ones left by an earlier session)."""
    out = run(["ip", "netns", "list"]).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [name for name in names if name.startswith(prefix)]


def stale_veths(prefix: str = config.VETH_PREFIX) -> list[str]:
    out = run(["ip", "-o", "link", "show"]).stdout
    found = []
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefix):
            found.append(name)
    return found


def create_host_network(spec: HostSpec) -> None:
    """Namespace, veth pair (host side on the bridge), address and loopback."""
    run(["ip", "netns", "add", spec.netns])
    run(["ip", "link", "add", spec.veth, "type", "veth", "peer", "name", "eth0", "netns", spec.netns])
    run(["ip", "link", "set", spec.veth, "master", spec.bridge, "up"])
    inside = ["ip", "netns", "exec", spec.netns]
    run([*inside, "ip", "addr", "add", f"{spec.address}/24", "dev", "eth0"])
    run([*inside, "ip", "link", "set", "eth0", "up"])
    run([*inside, "ip", "link", "set", "lo", "up"])


def remove_namespace(netns: str, netns_prefix: str = config.NETNS_PREFIX,
                     veth_prefix: str = config.VETH_PREFIX) -> None:
    veth = veth_prefix + netns.removeprefix(netns_prefix)
    if ok(["ip", "link", "show", veth]):
        run(["ip", "link", "del", veth])
    if netns in namespaces(netns_prefix):
        run(["ip", "netns", "del", netns])


def cut(spec: HostSpec) -> None:
    """Cut the host off the network (its processes keep running)."""
    run(["ip", "link", "set", spec.veth, "down"])


def restore(spec: HostSpec) -> None:
    run(["ip", "link", "set", spec.veth, "up"])


def is_cut(spec: HostSpec) -> bool:
    out = run(["ip", "-o", "link", "show", spec.veth], check=False).stdout
    return "state DOWN" in out or ",UP" not in out
