"""Did a HUP replace every worker? Judged from the agent's `hup_reload` reply (pure).

After a HUP the master stays (same pid, same start time); the proof is that every worker is new:
none of the workers seen before the signal is left, each child of the master started after the
signal (/proc start times, the host's clock, whole-second boot time: 1 s of margin), and there are
as many as the reloaded config asks for. A master with another start time was restarted, not
reloaded: no proof of a reload either.
"""
from __future__ import annotations

import re

START_MARGIN_S = 1.0  # /proc start times rest on a whole-second boot time


def generation_problems(reply: dict, old: list[int], want: int, master_started: float | None) -> list[str]:
    """Why the reply does not prove a new generation of workers; [] when it does."""
    if not reply.get("signalled"):
        return [f"the master was not signalled: {reply.get('error') or 'no answer'}"]
    problems = []
    old = sorted(set(old) | set(reply.get("old") or []))  # the agent's own view at the signal too
    workers = reply.get("workers") or []
    pids = [w["pid"] for w in workers]
    left = sorted(set(pids) & set(old))
    if left:
        problems.append(f"old worker(s) {', '.join(map(str, left))} still run")
    sent = float(reply["sent"])
    early = [w["pid"] for w in workers if w["pid"] not in old
             and (w.get("started") is None or w["started"] < sent - START_MARGIN_S)]
    if early:
        problems.append(f"worker(s) {', '.join(map(str, early))} did not start after the HUP")
    if len(pids) < want:
        problems.append(f"{len(pids)} worker(s) after the HUP, the reloaded config asks for {want}")
    now_started = reply.get("master_started")
    if master_started is not None and (now_started is None or abs(now_started - master_started) > START_MARGIN_S):
        problems.append("the master itself changed (restarted, not reloaded)")
    return problems


HUP_LINE = re.compile(r"\[(?P<pid>\d+)\]\s+\[[A-Z]+\]\s+Handling signal: hup", re.IGNORECASE)


def since_reload(text: str | None, master_pids: tuple[int, ...]) -> str | None:
    """The log after the master's last `Handling signal: hup` line (gunicorn's default format
    carries its pid): a reload logs no `Using worker` line, so the start's line (same pid, the
    old class) must not count. None when no such line is found (a custom format, another log)."""
    if text is None:
        return None
    last = None
    for match in HUP_LINE.finditer(text):
        if int(match.group("pid")) in master_pids:
            last = match
    return text[last.end():] if last else None
