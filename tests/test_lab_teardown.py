"""Runs last (see conftest): `lab.down` must leave nothing of the lab behind."""
from __future__ import annotations

import os
import subprocess

import pytest

from lab import config

from lab import lab

from lab import light

from lab import network

from lab import variety

pytestmark = [pytest.mark.lab, pytest.mark.lab_teardown]


def lab_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    marks = (str(config.LAB_ROOT), str(config.CACHE_DIR), "lab.proxy", "ip netns exec rmlab-",
             "ip netns exec rmlight-", "ip netns exec " + variety.NETNS_PREFIX)
    return [line for line in ps if any(mark in line for mark in marks)]


@pytest.mark.skipif(os.environ.get("REMEDIATION_KEEP_LAB") == "1", reason="REMEDIATION_KEEP_LAB=1 keeps the lab up")
def test_lab_down_leaves_nothing(fleet):
    removed = lab.down()
    assert set(removed) >= {spec.netns for spec in fleet.specs.values() if spec.name not in fleet.skipped}
    assert network.namespaces() == [] and network.namespaces(light.NETNS_PREFIX) == []
    assert network.namespaces(variety.NETNS_PREFIX) == [] and network.stale_veths(variety.VETH_PREFIX) == []
    assert network.stale_veths() == [] and network.stale_veths(light.VETH_PREFIX) == []
    assert subprocess.run(["ip", "link", "show", light.BRIDGE], capture_output=True).returncode != 0
    assert subprocess.run(["ip", "link", "show", config.BRIDGE], capture_output=True).returncode != 0
    left = lab_processes()
    assert left == [], "lab processes left:\n" + "\n".join(line[:600] for line in left)
    from lab import systemd_host  # the varied lab's systemd hosts: their cgroup subtrees go too

    assert sorted(p.name for p in systemd_host.cgroup_root().glob(systemd_host.CGROUP_PREFIX + "*")) == []
    mounts = open("/proc/mounts").read()
    assert str(config.LAB_ROOT) not in mounts and str(config.CACHE_DIR) not in mounts
    assert not config.LAB_ROOT.exists()
