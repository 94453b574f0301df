"""`invoke audit --path DIR`: scan a local checkout for gunicorn and Django DB settings."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import task

from remediation.audit import audit_path
from remediation.cli.common import guarded
from remediation.config.playbook import load_playbook
from remediation.discovery import AuditResult
from remediation.errors import InputError

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
        "playbook": "playbook YAML (as for remediate; its gunicorn:/django: sections are the target)",
    }
)
@guarded
def audit(c, path, json=None, write=False, playbook=None):
    """Scan a local checkout for gunicorn worker and Django DB settings; optionally patch them."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"audit: {path} is not a directory")
    target = load_playbook(playbook).target  # the one loader remediate uses: same keys, same checks
    result = audit_path(root, target, write=write)
    report = result.to_json(path)
    if json == "-":
        sys.stdout.write(report + "\n")
        return
    if json:
        try:
            Path(json).write_text(report + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"audit: cannot write {json}: {exc.strerror}") from None
    render(result, path, write)
