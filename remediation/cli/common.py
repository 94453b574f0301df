"""What every task shares: option help, the inventory and JSON plumbing, and the one wrapper
that turns an expected failure into one line and the README's exit code."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

from invoke import Exit

from remediation.config.inventory import Inventory, load_inventory
from remediation.console import console, err_console
from remediation.errors import InputError, RemediationError
from remediation.journal import Journal, configure_runs_dir, list_runs, runs_dir
from remediation.redact import redact
from remediation.errors import HostUnreachable

EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE = 1, 2, 3

COMMON_HELP = {
    "host": "inventory host name",
    "inventory": "inventory file or directory (default: invoke.yaml remediation.inventory, else inventory/)",
    "json": "write the JSON report to PATH (- = stdout, and nothing else goes to stdout)",
    "playbook": "playbook YAML (default: the packaged gevent-to-gthread.yml)",
    "accept_new_host_key": "trust and record an unknown SSH host key (refused by default)",
}


def help_for(*names: str, **extra: str) -> dict[str, str]:
    """The help of the common options `names`, plus task-specific ones."""
    return {**{name: COMMON_HELP[name] for name in names}, **extra}


def inventory(c, path: str | None) -> Inventory:
    if path is None:
        path = (c.config.get("remediation") or {}).get("inventory") or "inventory"
    return load_inventory(Path(path))


def emit_json(data: dict, target: str | None) -> None:
    text = json.dumps(data, indent=2, default=str)
    if target == "-":
        sys.stdout.write(text + "\n")
    elif target:
        try:
            Path(target).write_text(text + "\n")
        except OSError as exc:
            raise InputError(f"cannot write the JSON report to {target}: {exc.strerror}") from None


def out_for(json_target: str | None):
    """Human output goes to stderr when JSON goes to stdout."""
    return err_console if json_target == "-" else console


def guarded(fn):
    """Expected failures become one clear line and a non-zero exit, never a traceback."""
    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        configure_runs_dir((c.config.get("remediation") or {}).get("runs_dir"))
        try:
            return fn(c, *args, **kwargs)
        except InputError as exc:
            raise Exit(f"error: {exc}", code=EXIT_INPUT) from None
        except HostUnreachable as exc:
            raise Exit(f"unreachable: {exc}", code=EXIT_UNREACHABLE) from None
        except RemediationError as exc:
            raise Exit(f"error: {redact(str(exc))}", code=EXIT_FAILED) from None
        except LookupError as exc:
            raise Exit(f"error: {exc}", code=EXIT_FAILED) from None
    return wrapper


def open_run(run_id: str) -> Journal:
    try:
        return Journal.open(run_id)
    except FileNotFoundError:
        raise InputError(f"no run {run_id!r} in {runs_dir()}") from None


def journal_for(host: str, run_id: str | None, required: bool = True) -> Journal | None:
    """The run to undo on a host: the given one, else the latest run that changed it."""
    if run_id:
        journal = open_run(run_id)
        if not journal.changed_files(host):
            if required:
                raise InputError(f"run {run_id} changed nothing on {host}")
            return None
        return journal
    for journal in reversed(list_runs()):
        if journal.meta().get("kind") in ("remediate", "rollout") and journal.changed_files(host):
            return journal
    if required:
        raise InputError(f"no run in {runs_dir()} changed {host}")
    return None
