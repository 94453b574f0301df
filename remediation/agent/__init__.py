"""The host agent: stdlib-only code run on the host under sudo, sent over SSH as one payload.

Its parts are split by concern (core: the op registry and serve loop; processes; files; logs;
apps: the app's own interpreter; database; lock), and each manager's host-side probe lives with
its manager (managers/<name>/probe.py). transport/payload.py assembles them into one script at
send time. It does the host-side I/O of a run in as few round trips as possible and never sends
back secrets (process environments are filtered on the host)."""
from pathlib import Path

INTROSPECT_SOURCE = (Path(__file__).parent / "introspect.py").read_text()
