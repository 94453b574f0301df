"""`invoke audit --path DIR`: scan a local checkout for gunicorn and Django DB settings."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional

import yaml
from invoke import Exit, task

from remediation.audit import audit_path
from remediation.discovery import AuditResult
from remediation.model import Target

PLAYBOOK_KEYS = {
    "gunicorn": {"worker_class": "worker_class", "workers": "workers", "threads": "threads",
                 "worker_connections": "worker_connections"},
    "django": {"conn_max_age": "conn_max_age", "conn_health_checks": "conn_health_checks"},
}


def target_from_playbook(path: Optional[str]) -> Target:
    """Target values from a playbook's `gunicorn:` and `django:` sections."""
    if not path:
        return Target()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise Exit(f"audit: cannot read playbook {path}: {exc.strerror}", code=2)
    except yaml.YAMLError as exc:
        raise Exit(f"audit: playbook {path} is not valid YAML: {str(exc).splitlines()[0]}", code=2)
    if data is None:
        return Target()
    if not isinstance(data, dict):
        raise Exit(f"audit: playbook {path} must be a mapping", code=2)
    values = {}
    for section, value in data.items():
        if section not in PLAYBOOK_KEYS:
            continue  # restart:, verify:, ... belong to remediate
        if not isinstance(value, dict):
            raise Exit(f"audit: playbook key {section!r} in {path} must be a mapping", code=2)
        for key, item in value.items():
            if key not in PLAYBOOK_KEYS[section]:
                raise Exit(f"audit: unknown playbook key {section}.{key} in {path} "
                           f"(known: {', '.join(PLAYBOOK_KEYS[section])})", code=2)
            values[PLAYBOOK_KEYS[section][key]] = item
    defaults = {f.name: f.default for f in fields(Target)}
    for name, item in values.items():
        if type(item) is not type(defaults[name]):
            raise Exit(f"audit: playbook value {name}={item!r} in {path} must be "
                       f"{type(defaults[name]).__name__}", code=2)
    return Target(**values)


def render(result: AuditResult, path: str, wrote: bool) -> None:
    """Findings as a table, then the diff."""
    from rich.console import Console
    from rich.markup import escape
    from rich.syntax import Syntax
    from rich.table import Table

    console = Console()
    table = Table(title=f"audit {path}", show_lines=False)
    for column in ("file", "line", "setting", "current", "proposed", "action", "reason"):
        table.add_column(column, overflow="fold")
    styles = {"patch": "yellow", "report": "red", "ok": "green"}
    for f in result.findings:
        table.add_row(escape(f.file), str(f.line or ""), f.setting, escape(f.current or ""),
                      escape(f.proposed or ""), f"[{styles[f.action]}]{f.action}[/]", escape(f.reason))
    console.print(table)
    if result.diff:
        console.print(Syntax(result.diff, "diff", theme="ansi_dark", word_wrap=True))
        console.print("written" if wrote else "dry run: nothing written (use --write)")
    else:
        console.print("nothing to patch")


@task(
    help={
        "path": "directory of the checkout to scan (no SSH)",
        "json": "write the JSON report to this file, or '-' for stdout (nothing else is printed)",
        "write": "apply the patches in place (validated, atomic replace)",
        "playbook": "playbook YAML with gunicorn:/django: target values",
    }
)
def audit(c, path, json=None, write=False, playbook=None):
    """Scan a local checkout for gunicorn worker and Django DB settings; optionally patch them."""
    root = Path(path)
    if not root.is_dir():
        raise Exit(f"audit: {path} is not a directory", code=2)
    target = target_from_playbook(playbook)
    result = audit_path(root, target, write=write)
    report = result.to_json(path)
    if json == "-":
        sys.stdout.write(report + "\n")
        return
    if json:
        try:
            Path(json).write_text(report + "\n", encoding="utf-8")
        except OSError as exc:
            raise Exit(f"audit: cannot write {json}: {exc.strerror}", code=2)
    render(result, path, write)
