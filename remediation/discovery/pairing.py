"""The two halves of the fix: the worker switch and a persistent CONN_MAX_AGE.

CONN_MAX_AGE > 0 under gevent leaks connections, so a raise never lands while a place that may
decide the worker could still run gevent (a planned switch that cannot be written, a template
the tool cannot evaluate): the raise is refused and reported, the switches stand. The switch
alone leaks nothing: where the settings half cannot be placed (the settings are not in the tree),
the worker is switched and one finding gives the settings line to add, and where.
"""

from __future__ import annotations

from typing import Callable, Optional

from remediation.model import Target
from remediation.discovery.model import (HALF_FIX, HALF_FIX_LIVE, NOT_INCIDENT, OTHER_HALF, POOLED, Finding,
                                         FindingCode, Rank)
from remediation.discovery.places import Proposal


def _in(proposal: Proposal, kind: str) -> bool:
    return any(g and g[0] == kind for g in proposal.groups)


def _group(proposal: Proposal, kind: str) -> Optional[str]:
    return next((g[1] for g in proposal.groups if g and g[0] == kind and len(g) > 1), None)


def _switches(p: Proposal, active: Callable[[Proposal], bool]) -> bool:
    return p.finding.setting == "worker_class" and p.finding.action == "patch" and active(p)


def _db_refusal(p: Proposal, active: Callable[[Proposal], bool]) -> bool:
    """A production CONN_MAX_AGE that will not reach the target (not a note, not a pool)."""
    if p.finding.setting != "CONN_MAX_AGE" or not _in(p, "settings"):
        return False
    if p.rank >= Rank.PROTECTED or (len(p.key) > 1 and p.key[1] == "note"):  # a native pool: stays 0
        return False
    return p.finding.action == "report" or (p.finding.action == "patch" and not active(p))


def _db_ready(proposals: list[Proposal], active: Callable[[Proposal], bool]) -> bool:
    settings = [p for p in proposals if p.finding.setting == "CONN_MAX_AGE" and _in(p, "settings")]
    good = [p for p in settings if (p.finding.action == "ok" or
                                    (p.finding.action == "patch" and active(p)))]
    return bool(good) and not any(_db_refusal(p, active) for p in settings)


def _raises(p: Proposal, active: Callable[[Proposal], bool]) -> bool:
    return (p.finding.setting in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS") and p.finding.action == "patch"
            and active(p))


def _worker_left(proposals: list[Proposal], active: Callable[[Proposal], bool]) -> list[Proposal]:
    """Places that may decide the worker and still run a gevent-style worker after the change:
    planned switches that will not land, template places the tool cannot evaluate."""
    return [p for p in proposals if p.finding.setting == "worker_class" and _in(p, "deployment")
            and ((p.finding.action == "patch" and not active(p)) or p.held)]


def worker_text(target: Target, file: str) -> str:
    if file.endswith(".py") or "gunicorn" in file.rsplit("/", 1)[-1]:
        return (f'worker_class = "{target.worker_class}"; workers = {target.workers}; '
                f"threads = {target.threads}")
    return (f"--worker-class {target.worker_class} --workers {target.workers} "
            f"--threads {target.threads}")


def db_text(target: Target, finding: Finding) -> str:
    return f'DATABASES["{finding.alias or "default"}"]["CONN_MAX_AGE"] = {target.conn_max_age}'


def _where(finding: Finding) -> str:
    return f"{finding.file}:{finding.line}" if finding.line else finding.file


def _settings_place(proposals: list[Proposal], active) -> tuple[str, str]:
    """Why the settings half is not applied, and where its line goes (the end of the module
    Django loads: its final state decides, whatever earlier lines do)."""
    refusals = [p for p in proposals if _db_refusal(p, active)]
    if refusals:
        root = _group(refusals[0], "settings") or refusals[0].finding.file
        return refusals[0].finding.reason, f"at the end of {root}"
    for p in proposals:
        if p.finding.code == FindingCode.SETTINGS_NOT_IN_TREE and p.finding.module:
            module = p.finding.module
            return (f"the settings module {module} is not in the tree",
                    f"at the end of the settings module {module} (named in {_where(p.finding)})")
    return ("no production DATABASES setting was found in the tree",
            "at the end of the production settings module (the one DJANGO_SETTINGS_MODULE names)")


def _pooled(proposals: list[Proposal]) -> list[Finding]:
    """The production CONN_MAX_AGE findings (one per alias, or the no-DATABASES one) when every
    one of them must stay as it is (Django's native pool, or no database at all); else []."""
    settings = [p for p in proposals if p.finding.setting == "CONN_MAX_AGE" and _in(p, "settings")
                and not (len(p.key) > 1 and p.key[1] == "note")
                and (p.finding.alias is not None or p.finding.code == FindingCode.NO_DATABASE)]
    if settings and all(p.rank >= Rank.PROTECTED and p.finding.action == "ok" for p in settings):
        return [p.finding for p in settings]
    return []


def pair(proposals: list[Proposal], target: Target, active: Callable[[Proposal], bool],
         live: bool = False) -> tuple[Optional[Finding], list[Proposal], str]:
    """The finding for a fix that lands in part, the patches to refuse and why: the CONN_MAX_AGE
    raise where the worker may still be gevent-style, the worker switch where a native pool
    serves the connections. (None, [], "") when both halves land, or neither.

    live: the tree is a host's, about to be restarted: there both halves are applied and proven
    before the restart, so a switch whose settings half cannot be set is refused too."""
    pooled = _pooled(proposals)
    if pooled:
        switches = [p for p in proposals if _in(p, "deployment") and p.finding.action == "patch" and active(p)]
        if switches:
            first = switches[0].finding
            why = "; ".join(dict.fromkeys(f"{_where(f)}: {f.reason}" for f in pooled))
            if any(f.code == FindingCode.NO_DATABASE for f in pooled):
                code = FindingCode.NOT_INCIDENT
                reason = (f"{NOT_INCIDENT}: {why}. Without a database a gevent worker opens no "
                          "connections: not the incident, the worker is left as it is")
            else:
                code = FindingCode.POOLED
                reason = (f"{POOLED}: {why}. Django's native pool hands each request a pooled "
                          "connection, so a gevent worker does not open one per request: not the "
                          "incident, the worker is left as it is")
            return (Finding(first.file, first.line, "worker_class", first.current, None, "report", reason,
                            code=code),
                    switches, "no connection is opened per request here (see the not-the-incident finding)")
        return None, [], ""
    left = _worker_left(proposals, active)
    raised = [p for p in proposals if _raises(p, active) and _in(p, "settings")]
    if left and raised:
        w = left[0].finding
        reason = (f"{HALF_FIX}: CONN_MAX_AGE is not raised because the worker at {_where(w)} may "
                  f"still run {w.current or 'a gevent-style worker'} after the change; under gevent "
                  f"persistent connections leak. Set `{worker_text(target, w.file)}` there by hand, "
                  f"then `{db_text(target, raised[0].finding)}` (see the CONN_MAX_AGE findings)")
        return (Finding(w.file, w.line, "worker_class", w.current, target.worker_class, "report",
                        reason, code=FindingCode.HALF_FIX), raised, "the worker may still be gevent-style (see the half-a-fix finding)")
    switching = [p for p in proposals if _switches(p, active)]
    if switching and not _db_ready(proposals, active):
        first = switching[0].finding
        why, where = _settings_place(proposals, active)
        text = db_text(target, next((p.finding for p in proposals if _db_refusal(p, active)), first))
        health = f'DATABASES["default"]["CONN_HEALTH_CHECKS"] = {target.conn_health_checks!r}'
        if live:
            reason = (f"{HALF_FIX_LIVE}: the worker would switch ({_where(first)}: {first.current} -> "
                      f"{first.proposed}) but CONN_MAX_AGE cannot be set ({why}). Do both by hand: "
                      f"add {where}: `{text}`, and switch the worker")
            worker = [p for p in proposals if _in(p, "deployment") and p.finding.action == "patch" and active(p)]
            return (Finding(first.file, first.line, "CONN_MAX_AGE", None, str(target.conn_max_age),
                            "report", reason, code=FindingCode.HALF_FIX_LIVE), worker,
                    "the other half of the fix cannot be applied on this host (see the half-a-fix finding)")
        reason = (f"{OTHER_HALF}: the worker is switched ({_where(first)}: {first.current} -> "
                  f"{first.proposed}) but CONN_MAX_AGE is not set here ({why}). Add {where}: "
                  f"`{text}` and `{health}` (Django >= 4.1); until then every request still "
                  "opens a connection")
        return Finding(first.file, first.line, "CONN_MAX_AGE", None, str(target.conn_max_age),
                       "report", reason, code=FindingCode.OTHER_HALF), [], ""
    return None, [], ""
