"""Files: read (with globs and directory listings), write (backed up, atomic, validated, sha256
before and after), create a file that did not exist (and its missing directories), and restore
byte-identical originals (a created file removed, with the directories it needed)."""
import base64
import os
import sys

from remediation.agent.core import MAX_FILE, b64, op, run, sha256


def file_info(path):
    info = {"path": path, "exists": os.path.lexists(path)}
    if not info["exists"]:
        return info
    info["symlink"] = os.path.islink(path)
    info["realpath"] = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        info["error"] = str(exc)
        return info
    info.update(mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid, size=st.st_size,
                is_file=os.path.isfile(path), mtime=st.st_mtime)
    return info


@op("read", parallel=True)
def op_read(req):
    files = []
    paths = list(req["paths"])
    for pattern in req.get("globs", []):  # e.g. supervisor [include] files=: matches read in the same trip
        import glob

        paths += [p for p in sorted(glob.glob(pattern)) if p not in paths]
    for path in paths:
        info = file_info(path)
        if info.get("exists") and info.get("is_file"):
            if info["size"] > req.get("max_size", MAX_FILE):
                info["error"] = "too large (%d bytes)" % info["size"]
            else:
                with open(path, "rb") as fh:
                    data = fh.read()
                info["sha256"] = sha256(data)
                if not req.get("sha_only"):
                    info["content"] = b64(data)
        files.append(info)
    listings = {}
    for directory in req.get("list_dirs", []):
        try:
            listings[directory] = sorted(os.listdir(directory))
        except OSError as exc:
            listings[directory] = {"error": str(exc)}
    return {"files": files, "listings": listings}


def current_sha(path):
    try:
        with open(path, "rb") as fh:
            return sha256(fh.read())
    except OSError:  # missing, a directory, unreadable: not the file we want
        return None


def atomic_write(path, data, mode, uid, gid):
    directory = os.path.dirname(path)
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".%s.remediation-" % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.chown(tmp, uid, gid)
        return tmp
    except BaseException:
        os.unlink(tmp)
        raise


def validate(tmp, kind, python):
    if kind == "python":
        res = run([python or sys.executable, "-c",
                   "import sys; compile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec')", tmp], timeout=60)
        if res["rc"] != 0:
            return (res["stderr"].strip().splitlines() or ["does not compile"])[-1]
    return None


def fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@op("write")
def op_write(req):
    """Back up, write a temp file beside the target, validate, rename into place."""
    path = req["path"]
    data = base64.b64decode(req["content"])
    info = file_info(path)
    if not info.get("exists") or not info.get("is_file"):
        return {"ok": False, "error": "%s: not a regular file" % path}
    if info.get("symlink"):
        return {"ok": False, "error": "%s: is a symlink, refusing to replace it" % path}
    with open(path, "rb") as fh:
        original = fh.read()
    if sha256(original) != req["expected_sha256"]:
        return {"ok": False, "error": "%s changed since it was planned (sha256 %s, planned %s)"
                % (path, sha256(original)[:12], req["expected_sha256"][:12])}
    backup = os.path.join(req["backup_dir"], path.lstrip("/"))
    try:
        os.makedirs(os.path.dirname(backup), mode=0o700, exist_ok=True)
        # the first backup in a run is the true original: a second write (retry, resume) keeps it
        if not os.path.exists(backup):
            try:
                with open(backup + ".partial", "wb") as fh:
                    fh.write(original)
                    fh.flush()
                    os.fsync(fh.fileno())
                import shutil

                shutil.copystat(path, backup + ".partial")
                os.rename(backup + ".partial", backup)
            except BaseException:
                if os.path.lexists(backup + ".partial"):
                    os.unlink(backup + ".partial")  # a full disk must not leave a partial backup
                raise
            if current_sha(backup) != sha256(original):
                return {"ok": False, "error": "backup of %s did not verify" % path}
        tmp = atomic_write(path, data, info["mode"], info["uid"], info["gid"])
    except OSError as exc:
        return {"ok": False, "error": "%s: %s" % (exc.filename or path, exc.strerror), "stage": "backup"}
    problem = validate(tmp, req.get("validate"), req.get("python"))
    if problem:
        os.unlink(tmp)
        return {"ok": False, "error": "%s: new content failed validation: %s" % (path, problem), "backup": backup}
    if req.get("dry_run"):
        os.unlink(tmp)
        return {"ok": True, "backup": backup, "dry_run": True}
    failed = rename_into_place(tmp, path)
    if failed is not None:
        return {"ok": False, "error": "%s: %s" % (path, failed.strerror), "stage": "rename", "backup": backup}
    return {"ok": True, "backup": backup, "sha256_before": sha256(original), "sha256_after": current_sha(path)}


def rename_into_place(tmp, path):
    """The validated temp file renamed over `path`, its directory synced; on failure the temp file
    is removed and the OSError returned (None when done)."""
    try:
        os.rename(tmp, path)
        fsync_dir(os.path.dirname(path))
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        return exc
    return None


def missing_dirs(directory):
    """The directories from `directory` up that do not exist yet, the outermost first."""
    out = []
    while directory and directory != "/" and not os.path.lexists(directory):
        out.insert(0, directory)
        directory = os.path.dirname(directory)
    return out


@op("create")
def op_create(req):
    """A file that does not exist: its missing directories made (0755), the content written to a
    temp file beside it, validated, renamed into place (0644); owned as the nearest existing
    directory is (root's /etc/systemd/system: root). Refused when anything is at the path
    already: the plan saw none."""
    path = req["path"]
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        return {"ok": False, "error": "%s: not a normalised absolute path" % path}
    if os.path.lexists(path):
        return {"ok": False, "error": "%s exists: the plan saw no file there (run plan again)" % path}
    data = base64.b64decode(req["content"])
    made = missing_dirs(os.path.dirname(path))
    try:
        owner = os.stat(os.path.dirname(made[0]) if made else os.path.dirname(path))  # who owns the place
        for directory in made:
            os.mkdir(directory, 0o755)
            os.chmod(directory, 0o755)  # whatever the umask
            os.chown(directory, owner.st_uid, owner.st_gid)
            fsync_dir(os.path.dirname(directory))
        tmp = atomic_write(path, data, 0o644, owner.st_uid, owner.st_gid)
    except OSError as exc:
        remove_dirs(made)
        return {"ok": False, "error": "%s: %s" % (exc.filename or path, exc.strerror), "stage": "create"}
    problem = validate(tmp, req.get("validate"), req.get("python"))
    if problem or req.get("dry_run"):
        os.unlink(tmp)
        remove_dirs(made)
        if problem:
            return {"ok": False, "error": "%s: new content failed validation: %s" % (path, problem)}
        return {"ok": True, "dry_run": True, "created_dirs": made}
    failed = rename_into_place(tmp, path)
    if failed is not None:
        remove_dirs(made)
        return {"ok": False, "error": "%s: %s" % (path, failed.strerror), "stage": "rename"}
    return {"ok": True, "created_dirs": made, "sha256_after": current_sha(path)}


def remove_dirs(made):
    """Remove the directories a create made, innermost first, each only when empty."""
    for directory in reversed(made):
        try:
            os.rmdir(directory)
            fsync_dir(os.path.dirname(directory))
        except OSError:
            return


def remove_created(item):
    """Rollback of a create: the file removed when it still holds this run's bytes (another
    hand's file is left alone), then the directories the create made, when empty."""
    path = item["path"]
    if not os.path.lexists(path):
        remove_dirs(item.get("created_dirs") or [])
        return {"path": path, "ok": True, "source": "already"}
    if os.path.islink(path) or current_sha(path) not in (item.get("ours") or []):
        return {"path": path, "ok": False, "error": "%s: changed by another hand since the tool created it: "
                "not removed" % path}
    try:
        os.unlink(path)
        fsync_dir(os.path.dirname(path))
    except OSError as exc:
        return {"path": path, "ok": False, "error": "%s: %s" % (path, exc.strerror)}
    remove_dirs(item.get("created_dirs") or [])
    ok = not os.path.lexists(path)
    return {"path": path, "ok": ok, "source": "removed", "error": None if ok else "still there after removal"}


@op("restore")
def op_restore(req):
    """Put original bytes back atomically, from the host backup or the controller's copy; a file
    the run created (`absent`) is removed."""
    results = []
    for item in req["files"]:
        if item.get("absent"):
            results.append(remove_created(item))
            continue
        path, want = item["path"], item["sha256"]
        if current_sha(path) == want:
            results.append({"path": path, "ok": True, "source": "already"})
            continue
        if item.get("ours") is not None and current_sha(path) not in item["ours"]:
            # neither the original nor this run's bytes: another hand's edit, never overwritten
            if item.get("written"):
                results.append({"path": path, "ok": False, "error": "%s: changed by another hand since the tool "
                                "wrote it: not overwritten" % path})
            else:
                results.append({"path": path, "ok": True, "source": "untouched"})
            continue
        data, source = None, None
        backup = item.get("backup")
        if backup and current_sha(backup) == want:
            with open(backup, "rb") as fh:
                data, source = fh.read(), "host-backup"
        elif item.get("content") is not None:
            data, source = base64.b64decode(item["content"]), "controller-copy"
            if sha256(data) != want:
                results.append({"path": path, "ok": False, "error": "controller copy does not match sha256"})
                continue
        if data is None:
            results.append({"path": path, "ok": False, "error": "no verified copy of the original"})
            continue
        info = file_info(path)
        mode = item.get("mode", info.get("mode", 0o644))
        uid = item.get("uid", info.get("uid", 0))
        gid = item.get("gid", info.get("gid", 0))
        try:
            tmp = atomic_write(path, data, mode, uid, gid)
            os.rename(tmp, path)
            fsync_dir(os.path.dirname(path))
        except OSError as exc:
            results.append({"path": path, "ok": False, "error": "%s: %s" % (path, exc.strerror)})
            continue
        ok = current_sha(path) == want
        results.append({"path": path, "ok": ok, "source": source,
                        "error": None if ok else "sha256 after restore does not match"})
    return {"files": results}
