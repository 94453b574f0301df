"""Rollback of one host from the run journal alone: byte-identical originals (and a baked image's
kept image id named as the service's image again), then a restart where the app may run the
patched config, then a check that it serves."""
from __future__ import annotations

import base64

from remediation.errors import NoSingleMaster, RemediationError, RemoteError
from remediation.journal import Journal
from remediation import baked_image
from remediation.model import GunicornMaster, RestartMethod
from remediation.facts.parse import parse_probe
from remediation.plan.restart_kind import RestartKind
from remediation.reload import apply_restart
from remediation.restart import wait_serving
from remediation.transport.remote import Remote


def restart_from_journal(journal: Journal, host: str) -> tuple[RestartMethod, str]:
    facts = [e for e in journal.events(host) if e["event"] == "facts"]
    if not facts:
        raise RemediationError(f"{host}: run {journal.run_id} recorded no facts to restart with")
    return RestartMethod(**facts[0]["restart"]), facts[0]["url"]


def kind_from_journal(journal: Journal, host: str) -> tuple[RestartKind, int]:
    """The restart kind the run chose, in reverse for the rollback: a HUP when the plan chose one
    and it did not fall back (a master that gave no proof of a reload gets the manager's restart),
    and the workers the old config asks for (the facts recorded before the change)."""
    events = journal.events(host)
    chosen = [e for e in events if e["event"] == "restart-kind"]
    facts = [e for e in events if e["event"] == "facts"]
    workers = int(((facts[0].get("effective") or {}).get("workers") or 1) if facts else 1)
    if not chosen or any(e["event"] == "reload-fallback" for e in events):
        return RestartKind.MANAGER_RESTART, workers
    return RestartKind(chosen[-1]["kind"]), workers


def _restore_items(journal: Journal, host: str) -> list[dict]:
    """What to put back, and what the run's own bytes are: a file whose content is neither the
    original nor what this run wrote is someone else's edit, never overwritten (see op_restore)."""
    events = journal.events(host)
    items = []
    for event in journal.changed_files(host):
        path = event["path"]
        original = journal.original(host, path)
        done = [e["sha256_after"] for e in events if e["event"] == "change-done" and e["path"] == path]
        intended = [e["sha256_intended"] for e in events
                    if e["event"] == "change-intent" and e["path"] == path and e.get("sha256_intended")]
        if event.get("absent_before"):  # the run created it: removed, with the directories it made
            made = [d for e in events if e["event"] in ("change-intent", "change-done") and e["path"] == path
                    for d in e.get("created_dirs") or []]
            items.append({"path": path, "absent": True, "ours": sorted(set(done + intended)),
                          "created_dirs": list(dict.fromkeys(made))})
            continue
        item = {"path": path, "sha256": event["sha256_before"], "backup": event.get("backup"),
                "mode": event.get("mode"), "uid": event.get("uid"), "gid": event.get("gid"),
                "ours": sorted(set(done + intended)) if intended else None, "written": bool(done)}
        if original is not None:
            item["content"] = base64.b64encode(original).decode()
        items.append({k: v for k, v in item.items() if v is not None})
    return items


def running_master(remote: Remote, app: str | None) -> GunicornMaster | None:
    """The app's master to signal, None when it no longer runs: a reload whose new workers could
    not boot ends the master (and its manager may have given up restarting it), so the rollback's
    restart is the manager's, which starts the app on the restored files."""
    try:
        return parse_probe(dict(remote.probe())).master(app)
    except NoSingleMaster:
        return None


def rollback_host(remote: Remote, journal: Journal, host: str, timeout_s: int = 60,
                  process_read_changes: bool = True) -> list[dict]:
    """Restore every file the run may have changed, byte-identical, then restart and check it serves.
    `process_read_changes=False`: the running app never read the changed files (no restart was
    reached, nothing rereads them), so restoring them is the whole rollback."""
    items = _restore_items(journal, host)
    if not items:
        return []
    reply = remote.restore(items)
    bad = [f for f in reply["files"] if not f.get("ok")]
    for f in reply["files"]:
        journal.record(host, "restored", path=f["path"], ok=f.get("ok"), source=f.get("source"), error=f.get("error"))
    if bad:
        raise RemoteError("; ".join(f"{f['path']}: {f.get('error')}" for f in bad))
    method, url = restart_from_journal(journal, host)
    kept = baked_image.point_back(remote, journal, host)  # the service's image name -> the kept image id
    restored = [f["path"] for f in reply["files"] if f.get("source") not in ("already", "untouched")]
    reached_restart = any(e["event"] == "stage" and e["stage"] in ("restart", "verify") for e in journal.events(host))
    # restart when files changed back, or when the app may run the patched config (restart was reached
    # and not already undone); a rollback of a rollback restarts nothing
    if process_read_changes and (restored or kept or (reached_restart and not journal.rolled_back_since_change(host))):
        kind, workers = kind_from_journal(journal, host)
        app = getattr(journal, "app", None)  # one app's journal (Journal.for_app): that app's master
        master = running_master(remote, app) if kind == RestartKind.RELOAD_HUP else None
        applied = apply_restart(remote, journal, host, kind, master, method, restored or [i["path"] for i in items],
                                url, timeout_s, want=workers)
        journal.record(host, "rollback-restart", kind=str(applied.kind), commands=applied.commands,
                       fallback=applied.fallback)
    wait_serving(remote, url, timeout_s)
    if kept:
        baked_image.release(remote, journal, host, kept)
    journal.record(host, "rolled-back")
    return reply["files"]
