"""`invoke audit --path DIR`: scan a local checkout for gunicorn and Django DB settings."""

from __future__ import annotations

import json as jsonlib
import shutil
import sys
from pathlib import Path

from invoke import Exit

from remediation.audit import audit_path
from remediation.cli.common import EXIT_FAILED, check_json_target, guarded, report, task
from remediation.config.playbook import load_playbook
from remediation.discovery import AuditResult
from remediation.discovery.report import render_text, sarif, should_fail
from remediation.errors import InputError

FORMATS = ("text", "json", "sarif")


def render(result: AuditResult, path: str, wrote: bool) -> None:
    """Findings one block each, wrapped to the terminal (at most 100 columns), then the diff."""
    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    sys.stdout.write(render_text(result, path, wrote, width=max(width, 40)))


def _report(result: AuditResult, path: str, fmt: str) -> str:
    if fmt == "sarif":
        return jsonlib.dumps(sarif(result, path), indent=2)
    return jsonlib.dumps(report("audit", jsonlib.loads(result.to_json(path))), indent=2)


@task(
    help={
        "path": "directory of the checkout to scan (no SSH)",
        "json": "write the JSON report to this file, or '-' for stdout (nothing else is printed)",
        "write": "apply the patches in place (validated, atomic replace)",
        "playbook": "playbook YAML (as for remediate; its gunicorn:/django: sections are the target)",
        "check": "exit 1 when the tree would be patched or holds half a fix (for CI, pre-commit)",
        "format": "text (default), json or sarif (to stdout)",
    }
)
@guarded
def audit(c, path, json=None, write=False, playbook=None, check=False, format="text"):
    """Scan a local checkout for gunicorn worker and Django DB settings; optionally patch them."""
    check_json_target(json)
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"audit: {path} is not a directory")
    if format not in FORMATS:
        raise InputError(f"audit: --format must be one of {', '.join(FORMATS)}")
    target = load_playbook(playbook).target  # the one loader remediate uses: same keys, same checks
    result = audit_path(root, target, write=write)
    if json == "-":
        sys.stdout.write(_report(result, path, "json") + "\n")
    else:
        if json:
            try:
                Path(json).write_text(_report(result, path, "json") + "\n", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"audit: cannot write {json}: {exc.strerror}") from None
        if format == "text":
            render(result, path, write)
        else:
            sys.stdout.write(_report(result, path, format) + "\n")
    if check and should_fail(result):
        raise Exit("audit --check: the tree would be patched or holds half a fix",
                   code=EXIT_FAILED)
