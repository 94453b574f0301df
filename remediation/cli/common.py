"""What every task shares: option help, the inventory and JSON plumbing, and the one wrapper
that turns an expected failure into one line and the README's exit code."""
from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path

from invoke import Exit, Task
from invoke.tasks import task as _invoke_task

from remediation.config import ansible_cfg
from remediation.config.inventory import Inventory, load_inventory
from remediation.console import console, err_console
from remediation.errors import HostUnreachable, InputError, RemediationError
from remediation.journal import Journal, configure_runs_dir, default_runs_dir, list_runs
from remediation.redact import redact

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE = 0, 1, 2, 3
REPORT_BUG = ("this is a bug in the tool, not a problem with your input: please report it with the "
              "traceback above and the command you ran")
SCHEMA_VERSION = 2  # of every --json report (docs/json-reports.md); bump on an incompatible change

# Short flags: Ansible's where they mean the same, and no others (invoke's automatic ones collide:
# -f was --fast, --force or --forks, -h was --host and hid --help).
SHORT_FLAGS = {"inventory": "i", "limit": "l", "forks": "f"}


class ProductTask(Task):
    """A task with only the short flags of SHORT_FLAGS."""

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        if name in SHORT_FLAGS:
            opts["names"] = [opts["names"][0], SHORT_FLAGS[name]]
        return opts


def task(*args, **kwargs):
    """invoke's @task with auto_shortflags off and the product's short flags."""
    kwargs.setdefault("klass", ProductTask)
    kwargs.setdefault("auto_shortflags", False)
    kwargs.setdefault("iterable", ["inventory"])
    return _invoke_task(*args, **kwargs)

COMMON_HELP = {
    "host": "inventory host name",
    "inventory": "inventory file or directory, YAML or INI, as Ansible's -i (give it more than once for several "
                 "sources; default: $ANSIBLE_INVENTORY, else invoke.yaml remediation.inventory, else ansible.cfg's "
                 "inventory, else inventory/)",
    "json": "write the JSON report to PATH (- = stdout, and nothing else goes to stdout)",
    "playbook": "playbook YAML (default: the packaged gevent-to-gthread.yml)",
    "accept_new_host_key": "trust and record an unknown SSH host key (refused by default)",
    "app": "one gunicorn app of the host (its manager's name: supervisor program, systemd unit, compose "
           "project/service, else its address; default: every app, as remediation_apps/remediation_skip_apps choose)",
}


def help_for(*names: str, **extra: str) -> dict[str, str]:
    """The help of the common options `names`, plus task-specific ones."""
    return {**{name: COMMON_HELP[name] for name in names}, **extra}


def inventory(c, path) -> Inventory:
    """The inventory of -i (one path, or a list of them), else the one Ansible would use
    (ANSIBLE_INVENTORY), else invoke.yaml's remediation.inventory, else ansible.cfg's inventory,
    else inventory/. Where it came from is said on stderr when -i was not given; warnings too."""
    settings = ansible_cfg.load()
    paths = [path] if isinstance(path, str) else list(path or [])
    origin = None
    if not paths:
        configured = (c.config.get("remediation") or {}).get("inventory")
        if settings.sources.get("inventory") == "ANSIBLE_INVENTORY":
            paths, origin = settings.get("inventory"), "ANSIBLE_INVENTORY"
        elif configured:
            paths, origin = (configured if isinstance(configured, list) else [configured]), "invoke.yaml"
        elif settings.get("inventory"):
            paths, origin = settings.get("inventory"), settings.sources["inventory"]
        else:
            paths = ["inventory"]
    inv = load_inventory([Path(p) for p in paths], settings)
    if origin and origin != "invoke.yaml":
        err_console.print(f"inventory: {', '.join(map(str, paths))} (from {origin})", markup=False, highlight=False)
    for line in inv.warnings:
        err_console.print(f"[yellow]warning[/]: {line}", markup=True, highlight=False)
    return inv


def as_int(value, option: str, minimum: int = 0) -> int:
    """An integer option, or one line naming the option (no traceback for --forks abc)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(f"--{option} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise InputError(f"--{option} must be at least {minimum}, not {number}")
    return number


def as_float(value, option: str, minimum: float = 0, maximum: float = 100) -> float:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(f"--{option} must be a number, not {value!r}") from None
    if not minimum <= number <= maximum:
        raise InputError(f"--{option} must be between {minimum:g} and {maximum:g}, not {number:g}")
    return number


def check_json_target(target: str | None) -> None:
    """Refuse an unwritable --json path before anything is done (not after the hosts changed)."""
    if not target or target == "-":
        return
    path = Path(target)
    if path.is_dir():
        raise InputError("--json: is a directory", target)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("--json: the directory does not exist", target)
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError("--json: not writable", target)


def report(kind: str, data: dict) -> dict:
    """A --json report: schema_version and kind first, then the kind's fields (docs/json-reports.md)."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **data}


def emit_json(data: dict, target: str | None) -> None:
    text = json.dumps(data, indent=2, default=str)
    if target == "-":
        sys.stdout.write(text + "\n")
    elif target:
        try:
            Path(target).write_text(text + "\n")
        except OSError as exc:
            raise InputError(f"cannot write the JSON report to {target}: {exc.strerror or exc}") from None


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; without one, nothing changes unless --yes (one line, exit 2)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError("stdin is not a terminal: pass --yes to change hosts without confirmation")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise Exit("aborted: nothing changed", code=EXIT_FAILED)


def fleet_exit_code(failed: list[str], unreachable: list[str]) -> int:
    """A fleet run's exit: 1 when any host failed or was rolled back, else 3 when any was
    unreachable (and nothing else went wrong), else 0."""
    if failed:
        return EXIT_FAILED
    return EXIT_UNREACHABLE if unreachable else EXIT_OK


def out_for(json_target: str | None):
    """Human output goes to stderr when JSON goes to stdout."""
    return err_console if json_target == "-" else console


def guarded(fn):
    """Expected failures (remediation.errors) become one clear line and a non-zero exit, never a
    traceback. Anything else is a bug: its traceback is shown, then one line asking for a report
    (exit 1), so a KeyError in the code never passes for bad input."""
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
        except Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - everything unexpected, shown in full
            internal_error(exc)
            raise Exit(f"internal error: {REPORT_BUG}", code=EXIT_FAILED) from None
    return wrapper


def internal_error(exc: BaseException) -> None:
    """An unexpected exception's traceback on stderr (redacted: a message may quote a secret)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sys.stderr.write(redact(text))
    sys.stderr.flush()


def open_run(run_id: str) -> Journal:
    try:
        return Journal.open(run_id)
    except FileNotFoundError:
        raise InputError(f"no run {run_id!r} in {default_runs_dir()}") from None


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
        raise InputError(f"no run in {default_runs_dir()} changed {host}")
    return None
