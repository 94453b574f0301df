"""Running local commands for the lab: argument lists only, never a shell string."""
from __future__ import annotations

import subprocess
from collections.abc import Sequence


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def run(args: Sequence[str], *, check: bool = True, input: str | None = None,
        timeout: float = 120, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """Run a command, capture its output, raise LabError with its stderr when it fails."""
    try:
        proc = subprocess.run(list(map(str, args)), input=input, capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(map(str, args))}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(f"{' '.join(map(str, args))} exited {proc.returncode}: {' | '.join(detail)}")
    return proc


def ok(args: Sequence[str]) -> bool:
    """True when the command exits 0 (output discarded)."""
    return run(args, check=False).returncode == 0
