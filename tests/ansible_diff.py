"""Differential testing against Ansible: one long-lived oracle process (tests/oracle) answers
each inventory case; the tool's reading of the same files is put in the same shape."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from remediation.config import patterns
from remediation.config.inventory import load_inventory
from remediation.errors import InputError

ORACLE = Path(__file__).parent / "oracle" / "ansible_oracle.py"


def ansible_available() -> bool:
    try:
        import ansible  # noqa: F401
    except ImportError:
        return False
    return True


class Oracle:
    def __init__(self):
        self.cwd = tempfile.mkdtemp(prefix="oracle-cwd-")  # empty: no play-adjacent group_vars
        env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "1", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_HOME": self.cwd}
        self.proc = subprocess.Popen([sys.executable, str(ORACLE), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=self.cwd,
                                     env=env)
        self.calls = 0

    def ask(self, sources: list[str], pats: list[str]) -> dict:
        self.calls += 1
        self.proc.stdin.write(json.dumps({"sources": sources, "patterns": pats}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the Ansible oracle exited")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def ours(sources: list[str], pats: list[str]) -> dict:
    """The tool's answer in the oracle's shape ({"error": ...} when it refuses the inventory)."""
    try:
        inv = load_inventory([Path(s) for s in sources])
    except InputError as exc:
        return {"error": str(exc)}
    groups = {name: {"hosts": sorted(hosts), "children": sorted(inv.children.get(name, []))}
              for name, hosts in inv.groups.items()}
    answers = {}
    for pattern in pats:
        try:
            answers[pattern] = patterns.Matcher(list(inv.hosts), inv.groups).select(pattern, strict=False)
        except InputError as exc:
            answers[pattern] = {"error": str(exc)}
    return {"hosts": {n: h.vars for n, h in inv.hosts.items()}, "groups": groups, "patterns": answers}


def compare(mine: dict, theirs: dict, context: str) -> None:
    if "error" in theirs or "error" in mine:
        assert ("error" in theirs) == ("error" in mine), f"{context}\nours: {mine}\nansible: {theirs}"
        return
    assert sorted(mine["hosts"]) == sorted(theirs["hosts"]), context
    for name, values in theirs["hosts"].items():
        assert json.loads(json.dumps(mine["hosts"][name], default=str)) == values, f"{context}\nhost {name}"
    assert mine["groups"] == theirs["groups"], context
    for pattern, hosts in theirs["patterns"].items():
        got = mine["patterns"][pattern]
        if isinstance(hosts, dict) or isinstance(got, dict):
            assert isinstance(hosts, dict) == isinstance(got, dict), f"{context}\npattern {pattern!r}: {got} {hosts}"
        else:
            assert sorted(got) == sorted(hosts), f"{context}\npattern {pattern!r}"


@pytest.fixture(scope="session")
def oracle():
    if not ansible_available():
        pytest.skip("ansible-core is not installed (pip install -r requirements.txt)")
    o = Oracle()
    yield o
    o.close()
