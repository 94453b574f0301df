"""How an audit result is shown: readable text at any width (80 columns included), and SARIF.

Pure: both take the result and return text or a dict. One finding per block, its reason
wrapped at word boundaries; the diff is printed as is, never wrapped, so it can be applied.
"""

from __future__ import annotations

import textwrap
from typing import Optional

from remediation.discovery.model import AuditResult, Finding

ACTION_WORDS = {"patch": "PATCH", "report": "CANNOT PATCH", "ok": "ok"}
SARIF_LEVELS = {"patch": "warning", "report": "error", "ok": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def finding_block(f: Finding, width: int = 80) -> str:
    where = f"{f.file}:{f.line}" if f.line else f.file
    head = f"{ACTION_WORDS[f.action]}  {f.setting}  {where}"
    lines = textwrap.wrap(head, width, break_long_words=False, break_on_hyphens=False,
                          subsequent_indent="    ") or [head]
    if f.current is not None or f.proposed is not None:
        change = f"{f.current if f.current is not None else '(not set)'}"
        if f.proposed is not None:
            change += f" -> {f.proposed}"
        lines += textwrap.wrap(change, width, initial_indent="  ", subsequent_indent="    ",
                               break_long_words=False, break_on_hyphens=False)
    lines += textwrap.wrap(f.reason, width, initial_indent="  ", subsequent_indent="  ",
                           break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines)


def skipped_line(result: AuditResult) -> Optional[str]:
    parts = []
    if result.skipped.get("binary"):
        parts.append(f"{result.skipped['binary']} binary")
    if result.skipped.get("large"):
        parts.append(f"{result.skipped['large']} larger than 1 MB")
    return f"skipped data files: {', '.join(parts)}" if parts else None


def summary(result: AuditResult) -> str:
    counts = {a: sum(1 for f in result.findings if f.action == a) for a in ACTION_WORDS}
    return (f"{counts['patch']} to patch, {counts['report']} cannot patch, {counts['ok']} ok; "
            f"{len(result.patched)} file(s) would change")


def render_text(result: AuditResult, path: str, wrote: bool, width: int = 80,
                show_ok: bool = True) -> str:
    """The human report: findings (patches and refusals first), counts, then the raw diff."""
    order = {"patch": 0, "report": 1, "ok": 2}
    findings = sorted(result.findings, key=lambda f: order[f.action])
    blocks = [f"audit {path}", ""]
    for f in findings:
        if f.action == "ok" and not show_ok:
            continue
        blocks += [finding_block(f, width), ""]
    skipped = skipped_line(result)
    if skipped:
        blocks.append(skipped)
    blocks.append(summary(result))
    if result.half_fix():
        blocks.append("half a fix: one half of the fix is left to do by hand (see above)")
    if result.diff:
        blocks += ["", result.diff.rstrip("\n"), ""]
        blocks.append("written" if wrote else "dry run: nothing written (use --write)")
    else:
        blocks.append("nothing to patch")
    return "\n".join(blocks) + "\n"


def sarif(result: AuditResult, path: str) -> dict:
    """SARIF 2.1.0 for code-scanning views: one result per patch or refusal."""
    rules = {}
    results = []
    for f in result.findings:
        if f.action == "ok":
            continue
        rule = f"{f.action}-{f.setting}"
        rules.setdefault(rule, {
            "id": rule,
            "name": f"{f.setting} {'can be patched' if f.action == 'patch' else 'needs a person'}",
            "shortDescription": {"text": f"{f.setting}: "
                                 + ("the tool would patch it" if f.action == "patch"
                                    else "cannot be patched safely")},
        })
        location = {"physicalLocation": {"artifactLocation": {"uri": f.file}}}
        if f.line:
            location["physicalLocation"]["region"] = {"startLine": f.line}
        message = f.reason
        if f.proposed is not None:
            message += f" (proposed: {f.proposed})"
        entry = {"ruleId": rule, "level": SARIF_LEVELS[f.action], "message": {"text": message}}
        if not f.file.startswith("<"):
            entry["locations"] = [location]
        results.append(entry)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "remediation-audit", "rules": list(rules.values())}},
            "originalUriBaseIds": {"SRCROOT": {"uri": path.rstrip("/") + "/"}},
            "results": results,
        }],
    }


def should_fail(result: AuditResult) -> bool:
    """`audit --check`: non-zero when the tree would be patched or holds half a fix."""
    return bool(result.patched) or result.half_fix()
