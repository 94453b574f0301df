"""The host agent as tests run it: the very payload transport sends (transport/payload.py),
loaded in this process (`hostagent`) or written to a file (`AGENT`) to run as `python3 AGENT`."""
from __future__ import annotations

import tempfile
from pathlib import Path

from remediation.transport import payload

hostagent = payload.load()


def script() -> Path:
    """The payload as a file, named by its digest (the same text is written once)."""
    path = Path(tempfile.gettempdir()) / f"remediation-hostagent-{payload.digest()[:16]}.py"
    if not path.exists() or path.read_text() != payload.source():
        tmp = path.with_suffix(f".{id(path)}.tmp")
        tmp.write_text(payload.source())
        tmp.replace(path)
    return path


AGENT = script()
