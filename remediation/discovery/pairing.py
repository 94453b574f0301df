"""The two halves of the fix go together: the worker switch and a persistent CONN_MAX_AGE.

gthread with CONN_MAX_AGE = 0 still connects on every request (and costs a restart for
nothing); CONN_MAX_AGE > 0 under gevent leaks connections. So when the tree would switch a
gevent-style worker but the production CONN_MAX_AGE cannot be set (or the other way round),
nothing is patched and one finding says what a person would add, and where.
"""

from __future__ import annotations

from typing import Callable, Optional

from remediation.model import Target
from remediation.discovery.model import HALF_FIX, Finding, FindingCode, Rank
from remediation.discovery.places import Proposal


def _in(proposal: Proposal, kind: str) -> bool:
    return any(g and g[0] == kind for g in proposal.groups)


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


def _db_raised(proposals: list[Proposal], active: Callable[[Proposal], bool]) -> bool:
    return any(p.finding.setting == "CONN_MAX_AGE" and p.finding.action == "patch" and active(p)
               for p in proposals)


def _worker_left(proposals: list[Proposal], active: Callable[[Proposal], bool]) -> list[Proposal]:
    """Worker-side patches that were planned but will not land (a failed file, a refusal)."""
    return [p for p in proposals if p.finding.setting == "worker_class" and _in(p, "deployment")
            and p.finding.action == "patch" and not active(p)]


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


def half_fix(proposals: list[Proposal], target: Target,
             active: Callable[[Proposal], bool]) -> Optional[Finding]:
    """The finding that stops a half fix, or None when both halves land (or neither)."""
    switching = [p for p in proposals if _switches(p, active)]
    if switching and not _db_ready(proposals, active):
        refusals = [p.finding for p in proposals if _db_refusal(p, active)]
        first = switching[0].finding
        if refusals:
            db = refusals[0]
            why = db.reason
            where = f"{_where(db)}: add `{db_text(target, db)}`"
        else:
            why = "no production DATABASES setting was found in the tree"
            where = f"in the production settings module: add `{db_text(target, first)}`"
        reason = (f"{HALF_FIX}: the worker would switch "
                  f"({_where(first)}: {first.current} -> {first.proposed}) but CONN_MAX_AGE "
                  f"cannot be set ({why}). Do both by hand: {where}, and switch the worker")
        return Finding(first.file, first.line, "CONN_MAX_AGE", None, str(target.conn_max_age),
                       "report", reason, code=FindingCode.HALF_FIX)
    left = _worker_left(proposals, active)
    if left and _db_raised(proposals, active):
        w = left[0].finding
        reason = (f"{HALF_FIX}: CONN_MAX_AGE would be raised but the worker "
                  f"switch at {_where(w)} cannot be written; under gevent persistent "
                  f"connections leak. Do both by hand: {_where(w)}: set "
                  f"`{worker_text(target, w.file)}`")
        return Finding(w.file, w.line, "worker_class", w.current, target.worker_class, "report",
                       reason, code=FindingCode.HALF_FIX)
    return None


