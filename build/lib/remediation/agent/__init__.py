"""The host agent: one stdlib-only Python script sent over SSH and run under sudo.

It does the host-side I/O of a run in as few round trips as possible and never sends
back secrets (process environments are filtered on the host)."""
from pathlib import Path

AGENT_SOURCE = (Path(__file__).parent / "hostagent.py").read_text()
INTROSPECT_SOURCE = (Path(__file__).parent / "introspect.py").read_text()
