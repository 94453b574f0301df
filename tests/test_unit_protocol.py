"""The typed protocol (transport/protocol.py): each request's wire dict is what the agent reads
(the same dicts the flow used to build by hand, so recorded fixtures still apply), the envelope
reads every reply shape, and nothing outside agent/ and transport/ builds an op dict."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent_payload import hostagent
from remediation.errors import RemoteError
from remediation.transport import protocol as p

PACKAGE = Path(__file__).resolve().parents[1] / "remediation"


@pytest.mark.parametrize("request_,wire", [
    (p.Probe(), {"op": "probe"}),
    (p.Read(["/a"], list_dirs=["/d"]), {"op": "read", "paths": ["/a"], "list_dirs": ["/d"]}),
    (p.Read(["/a"], sha_only=True), {"op": "read", "paths": ["/a"], "sha_only": True}),
    (p.Write("/a", "eA==", "ab", "/var/b", validate="python", python=None),
     {"op": "write", "path": "/a", "content": "eA==", "expected_sha256": "ab", "backup_dir": "/var/b",
      "validate": "python"}),
    (p.Logs([{"kind": "file", "key": "app", "path": "/l"}], bytes=0),
     {"op": "logs", "sources": [{"kind": "file", "key": "app", "path": "/l"}], "bytes": 0}),
    (p.Introspect(7, 0, "python3", None, None, "print(1)", ["0"], {}),
     {"op": "introspect", "pid": 7, "uid": 0, "python": "python3", "cwd": None, "container": None,
      "snippet": "print(1)", "args": ["0"], "env": {}}),
    (p.Counters(7, 0, "python3", "/app", "c1", "s", ["1"], {}, view=True),
     {"op": "counters", "pid": 7, "uid": 0, "python": "python3", "cwd": "/app", "container": "c1", "snippet": "s",
      "args": ["1"], "env": {}, "view": True}),
    (p.RunCommand(["true"], timeout=60), {"op": "run", "argv": ["true"], "timeout": 60}),
    (p.Lock("r1", controller="c", pid=3), {"op": "lock", "run_id": "r1", "controller": "c", "pid": 3}),
    (p.Unlock(break_=True), {"op": "unlock", "break": True}),
    (p.Unlock("r1"), {"op": "unlock", "run_id": "r1"}),
    (p.SupervisorRestart("/etc/s.conf", "web", timeout=30),
     {"op": "supervisor_restart", "config": "/etc/s.conf", "program": "web", "timeout": 30}),
    (p.TcpWatchStart("w", 7, [{"host": "db", "port": 5432}]),
     {"op": "tcp_watch", "id": "w", "master": 7, "endpoints": [{"host": "db", "port": 5432}], "action": "start"}),
    (p.TcpWatchStop("w"), {"op": "tcp_watch", "id": "w", "action": "stop"}),
])
def test_each_request_is_the_wire_dict_the_agent_reads(request_, wire):
    assert request_.wire() == wire
    assert request_.OP in hostagent.OPS


def test_every_agent_op_has_a_request_and_a_reply_type():
    assert {r.OP for r in p.REPLY_TYPES} == set(hostagent.OPS)


@pytest.mark.parametrize("reply,ok,error", [
    ({"files": []}, True, None),  # raw data
    ({"rc": 1, "stdout": "", "stderr": "x"}, True, None),  # a command's result is data, whatever its rc
    ({"ok": False, "error": "/a changed since it was planned"}, False, "/a changed since it was planned"),
    ({"ok": False, "holder": {"run_id": "other"}}, False, None),
    ({"error": "no such watch"}, False, "no such watch"),
    ({"agent_error": "KeyError: 'paths'"}, False, "KeyError: 'paths'"),
])
def test_the_envelope_reads_every_reply_shape(reply, ok, error):
    envelope = p.Envelope.of(reply)
    assert (envelope.ok, envelope.error) == (ok, error)


class Wire(p.AgentCalls):
    """A wire that answers each op with a canned reply, recording what it was sent."""

    def __init__(self, *replies):
        self.host, self.sent, self.replies = type("H", (), {"name": "web1"})(), [], list(replies)

    def agent(self, *ops, timeout=180, parallel=False):
        self.sent.append((ops, parallel))
        return [self.replies.pop(0) for _ in ops]


def test_typed_calls_send_one_round_trip_and_raise_on_an_agent_error():
    wire = Wire({"files": [], "listings": {}}, {"rc": 0, "stdout": "", "stderr": ""})
    envelopes = wire.call(p.Read(["/a"]), p.Probe(), parallel=True)
    assert [e.ok for e in envelopes] == [True, True] and wire.sent[0][1] is True
    assert [op["op"] for op in wire.sent[0][0]] == ["read", "probe"]
    with pytest.raises(RemoteError, match="web1: agent write failed: OSError: disk full"):
        Wire({"agent_error": "OSError: disk full"}).write(p.Write("/a", "", "", "/b"))


def test_no_op_dict_or_raw_agent_call_outside_agent_and_transport():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0]
        if top in ("agent", "transport"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["']op["']\s*:|\.agent\(""", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders
