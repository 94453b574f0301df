"""The apply stage: back up, write atomically, validate, journal (sha256 before and after).

Every planned file must still be what was planned before the first write; each original is
kept on the controller (journal) and on the host (backup dir) before it is replaced; the host
agent writes a temp file, re-checks it with the app's interpreter, and renames it into place.
Files in a baked image's build context: the image the container runs is kept under a tag of the
run and the service's image rebuilt. Then check-config: the app's own loaders must see the target
values before any restart (a baked image's in a container of the new image).
"""
from __future__ import annotations

import base64
import hashlib
import posixpath
import shlex
from dataclasses import replace

from remediation.discovery import validate
from remediation.errors import StageError
from remediation.facts.gather import interpreter, introspect
from remediation.journal import Journal
from remediation import baked_image
from remediation.managers.compose import baked_change
from remediation.model import AppView, GunicornMaster, HostRun, Target
from remediation.plan.decide import target_reached
from remediation.plan.inspection import Inspection, absolute, rel
from remediation.transport.protocol import Create, Write
from remediation.transport.remote import Remote

HOST_BACKUP_ROOT = "/var/backups/remediation"


def _refuse_stale(remote: Remote, ins: Inspection, patched: dict[str, str]) -> None:
    """Every file the plan would change must not have changed on the host since it was read."""
    for rel_path in patched:
        problem = validate.check_patched(ins.audit, rel_path)
        if problem:
            raise StageError("apply", f"/{rel_path}: the patched text does not parse: {problem}")
    current = remote.read(ins.patched_paths(), sha_only=True)
    for info in current["files"]:
        if rel(info["path"]) in ins.audit.created:
            if info.get("exists"):
                raise StageError("apply", f"{info['path']} exists on the host, where the plan saw no file; "
                                          "nothing was written (run plan again)")
        elif info.get("sha256") != ins.file(rel(info["path"])).sha256:
            raise StageError("apply", f"{info['path']} changed on the host since it was planned; "
                                      "nothing was written (run plan again)")


def apply_changes(remote: Remote, journal: Journal, run: HostRun, ins: Inspection, written: list[str]) -> None:
    """Write every patched file; `written` grows before each write so a failure rolls back."""
    patched = ins.audit.patched
    backup_dir = f"{HOST_BACKUP_ROOT}/{journal.run_id}"
    python = None if ins.gathered.master.in_container else interpreter(ins.gathered.master)
    _refuse_stale(remote, ins, patched)
    for rel_path in sorted(patched):
        path = absolute(rel_path)
        if rel_path in ins.audit.created:
            create_file(remote, journal, run, ins, rel_path, python, written)
            continue
        original = ins.file(rel_path)
        if original.content is None or original.sha256 is None:
            raise StageError("apply", f"{path}: original content unknown, refusing to write")
        if original.symlink:
            raise StageError("apply", f"{path} is a symlink (to {original.realpath}); refusing to patch")
        copy = journal.keep_original(run.name, path, original.content)
        journal.record(run.name, "change-intent", path=path, sha256_before=original.sha256,
                       sha256_intended=hashlib.sha256(patched[rel_path].encode()).hexdigest(),
                       backup=f"{backup_dir}{path}", controller_copy=str(copy),
                       mode=original.mode, uid=original.uid, gid=original.gid)
        written.append(path)
        written_reply = remote.write(Write(
            path, base64.b64encode(patched[rel_path].encode()).decode(), original.sha256, backup_dir,
            validate=validate.host_check_patched(ins.audit, rel_path), python=python))
        if not written_reply.ok:
            raise StageError("apply", written_reply.error or f"{path}: write failed")
        reply = written_reply.data
        change = {"path": path, "sha256_before": reply["sha256_before"],
                  "sha256_after": reply["sha256_after"], "backup": reply["backup"]}
        journal.record(run.name, "change-done", **change)
        run.changes.append(change)
    method = ins.gathered.master.restart
    if baked_change(method, [c["path"] for c in run.changes]):  # only a new image carries the patched files
        baked_image.rebuild(remote, journal, run.name, method)


def missing_dirs(remote: Remote, path: str) -> list[str]:
    """The directories above `path` that do not exist yet, outermost first (journalled before the
    create, so a rollback after a crash mid-create still removes them, when empty)."""
    above = [posixpath.dirname(path)]
    while above[-1] not in ("/", ""):
        above.append(posixpath.dirname(above[-1]))
    listings = remote.read([], list_dirs=above[:-1])["listings"]
    return [d for d in reversed(above[:-1]) if isinstance(listings.get(d), dict)]


def create_file(remote: Remote, journal: Journal, run: HostRun, ins: Inspection, rel_path: str,
                python: str | None, written: list[str]) -> None:
    """A file the plan creates (a systemd drop-in): journalled as absent before, so the rollback
    removes it, with the directories the create made."""
    path, content = absolute(rel_path), ins.audit.patched[rel_path].encode()
    journal.record(run.name, "change-intent", path=path, absent_before=True, sha256_before=None,
                   sha256_intended=hashlib.sha256(content).hexdigest(), created_dirs=missing_dirs(remote, path))
    written.append(path)
    reply = remote.create(Create(path, base64.b64encode(content).decode(),
                                 validate=validate.host_check_patched(ins.audit, rel_path), python=python))
    if not reply.ok:
        raise StageError("apply", reply.error or f"{path}: create failed")
    change = {"path": path, "sha256_before": None, "sha256_after": reply.data["sha256_after"],
              "created": True, "created_dirs": reply.data.get("created_dirs") or []}
    journal.record(run.name, "change-done", **change)
    run.changes.append(change)


def restarted_master(ins: Inspection) -> GunicornMaster:
    """The master as the restart will start it: with the patched command line when the manager's
    file that holds it was patched (gunicorn reads its flags from there, not from `ps`)."""
    master, command = ins.gathered.master, ins.audit.restarted_command
    if not command or master.args_from is None:
        return master
    # the interpreter and gunicorn words as the process runs them (they pick the venv), the
    # patched arguments after them
    return replace(master, argv=master.argv[:master.args_from] + shlex.split(command)[1:])


def check_config(remote: Remote, ins: Inspection, target: Target) -> AppView:
    """Before restarting: the app's own loaders must now see the target values, with the command
    line the restarted process will run."""
    master, method = restarted_master(ins), ins.gathered.master.restart
    image_run = None
    if baked_change(method, ins.patched_paths()):  # the new image, in a container of its own, before `up -d`
        image_run = {"image": method.image, "like": method.container}
    view = introspect(remote, master, env=ins.audit.restarted_env, image_run=image_run)
    if view.errors:
        raise StageError("check-config", "the patched config does not load: " + "; ".join(view.errors))
    gaps = target_reached(view.gunicorn, view.databases, target)
    if gaps:
        raise StageError("check-config", "after patching, " + "; ".join(gaps))
    return view
