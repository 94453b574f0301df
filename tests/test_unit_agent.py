"""The host agent's file operations, run locally exactly as on a host: `python3 hostagent.py`
with one JSON request on stdin, on files in a tmp dir (probe/introspect run on the lab)."""
from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent_payload import AGENT, hostagent

# the system interpreter, as `sudo -n python3` finds it on a host (not a pyenv shim: slow to start)
PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)),
              shutil.which("python3") or sys.executable)
IS_ROOT = os.geteuid() == 0


def agent(*ops: dict) -> list[dict]:
    proc = subprocess.run([PYTHON, str(AGENT)], input=json.dumps({"ops": list(ops)}).encode(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    replies = json.loads(proc.stdout)["replies"]
    assert len(replies) == len(ops)
    return replies


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def write_op(path: Path, new: bytes, backup_dir: Path, expected: str | None = None, **extra) -> dict:
    original = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    return {"op": "write", "path": str(path), "content": b64(new), "backup_dir": str(backup_dir),
            "expected_sha256": expected if expected is not None else sha(original), **extra}


ORIGINAL = b"worker_class = 'gevent'\r\nworkers = 2\n# \xe9\xff binary tail\x00\n"
NEW = b"worker_class = 'gthread'\nworkers = 2\nthreads = 8\n"


@pytest.fixture
def app(tmp_path):
    """An app dir with a gunicorn config (mode 0640) and a separate backup root."""
    app_dir = tmp_path / "srv" / "app"
    app_dir.mkdir(parents=True)
    conf = app_dir / "gunicorn.conf.py"
    conf.write_bytes(ORIGINAL)
    conf.chmod(0o640)
    return conf, tmp_path / "backups" / "run-1"


def backup_of(backup_dir: Path, path: Path) -> Path:
    return backup_dir / str(path).lstrip("/")


# --- write --------------------------------------------------------------------------------------

def test_write_refuses_when_the_file_changed_since_planned(app):
    conf, backups = app
    before = listing(conf.parent)
    reply = agent(write_op(conf, NEW, backups, expected=sha(b"what the plan saw")))[0]
    assert reply["ok"] is False and "changed since it was planned" in reply["error"]
    assert conf.read_bytes() == ORIGINAL
    assert listing(conf.parent) == before
    assert not backups.exists()


def test_write_refuses_a_symlink(app, tmp_path):
    conf, backups = app
    link = conf.parent / "linked.conf.py"
    link.symlink_to(conf)
    before = listing(conf.parent)
    reply = agent(write_op(link, NEW, backups, expected=sha(ORIGINAL)))[0]
    assert reply["ok"] is False and "symlink" in reply["error"]
    assert link.is_symlink() and conf.read_bytes() == ORIGINAL
    assert listing(conf.parent) == before and not backups.exists()


def test_write_refuses_non_regular_files(app):
    conf, backups = app
    fifo = conf.parent / "pipe"
    os.mkfifo(fifo)
    directory = conf.parent / "adir"
    directory.mkdir()
    before = listing(conf.parent)
    replies = agent(write_op(fifo, NEW, backups, expected=sha(b"")),
                    write_op(directory, NEW, backups, expected=sha(b"")),
                    write_op(conf.parent / "missing.py", NEW, backups, expected=sha(b"")))
    for reply in replies:
        assert reply["ok"] is False and "not a regular file" in reply["error"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert listing(conf.parent) == before and not backups.exists()


def test_write_keeps_a_byte_identical_backup_with_the_same_mode(app):
    conf, backups = app
    reply = agent(write_op(conf, NEW, backups))[0]
    assert reply["ok"] is True, reply
    backup = backup_of(backups, conf)
    assert reply["backup"] == str(backup)
    assert backup.read_bytes() == ORIGINAL
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert reply["sha256_before"] == sha(ORIGINAL) and reply["sha256_after"] == sha(NEW)
    assert not list(backups.rglob("*.partial"))


def test_write_replaces_atomically_keeping_mode_and_owner(app):
    conf, backups = app
    owner = (1234, 2345) if IS_ROOT else (os.geteuid(), os.getegid())
    os.chown(conf, *owner)
    inode_before = conf.stat().st_ino
    reply = agent(write_op(conf, NEW, backups))[0]
    assert reply["ok"] is True, reply
    st = conf.stat()
    assert conf.read_bytes() == NEW
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == owner
    assert st.st_ino != inode_before  # a new file renamed into place, not rewritten in place
    assert listing(conf.parent) == ["gunicorn.conf.py"]


def test_write_rejects_python_that_does_not_compile(app):
    conf, backups = app
    reply = agent(write_op(conf, b"worker_class = 'gthread\nworkers = (\n", backups, validate="python"))[0]
    assert reply["ok"] is False and "failed validation" in reply["error"]
    assert conf.read_bytes() == ORIGINAL
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert listing(conf.parent) == ["gunicorn.conf.py"]


def test_write_validates_with_the_given_interpreter(app):
    conf, backups = app
    reply = agent(write_op(conf, NEW, backups, validate="python", python="/nonexistent/python3"))[0]
    assert reply["ok"] is False and "not found" in reply["error"]
    assert conf.read_bytes() == ORIGINAL and listing(conf.parent) == ["gunicorn.conf.py"]
    reply = agent(write_op(conf, NEW, backups, validate="python", python=sys.executable))[0]
    assert reply["ok"] is True and conf.read_bytes() == NEW


def test_write_dry_run_changes_nothing(app):
    conf, backups = app
    reply = agent(write_op(conf, NEW, backups, validate="python", dry_run=True))[0]
    assert reply == {"ok": True, "backup": str(backup_of(backups, conf)), "dry_run": True}
    assert conf.read_bytes() == ORIGINAL and listing(conf.parent) == ["gunicorn.conf.py"]


def test_second_write_in_a_run_keeps_the_first_backup(app):
    conf, backups = app
    assert agent(write_op(conf, NEW, backups))[0]["ok"]
    assert agent(write_op(conf, NEW + b"# again\n", backups))[0]["ok"]
    assert backup_of(backups, conf).read_bytes() == ORIGINAL
    assert conf.read_bytes() == NEW + b"# again\n"


# --- restore ------------------------------------------------------------------------------------

def restore_item(path: Path, backups: Path | None = None, content: bytes | None = None, **extra) -> dict:
    item = {"path": str(path), "sha256": sha(ORIGINAL), **extra}
    if backups is not None:
        item["backup"] = str(backup_of(backups, path))
    if content is not None:
        item["content"] = b64(content)
    return item


def patched(app) -> tuple[Path, Path]:
    conf, backups = app
    assert agent(write_op(conf, NEW, backups))[0]["ok"]
    conf.chmod(0o600)  # the mode drifted too
    return conf, backups


def test_restore_from_the_host_backup(app):
    conf, backups = patched(app)
    reply = agent({"op": "restore", "files": [restore_item(conf, backups, mode=0o640)]})[0]
    assert reply["files"] == [{"path": str(conf), "ok": True, "source": "host-backup", "error": None}]
    assert conf.read_bytes() == ORIGINAL
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert listing(conf.parent) == ["gunicorn.conf.py"]


def test_restore_from_the_controller_copy_when_the_backup_is_missing(app):
    conf, backups = patched(app)
    backup_of(backups, conf).unlink()
    reply = agent({"op": "restore", "files": [restore_item(conf, backups, content=ORIGINAL, mode=0o640)]})[0]
    assert reply["files"][0]["ok"] is True and reply["files"][0]["source"] == "controller-copy"
    assert conf.read_bytes() == ORIGINAL and stat.S_IMODE(conf.stat().st_mode) == 0o640


def test_restore_from_the_controller_copy_when_the_backup_is_corrupted(app):
    conf, backups = patched(app)
    backup_of(backups, conf).write_bytes(ORIGINAL[:-3])
    reply = agent({"op": "restore", "files": [restore_item(conf, backups, content=ORIGINAL)]})[0]
    assert reply["files"][0]["source"] == "controller-copy"
    assert conf.read_bytes() == ORIGINAL


def test_restore_refuses_a_controller_copy_that_does_not_match(app):
    conf, backups = patched(app)
    reply = agent({"op": "restore", "files": [restore_item(conf, content=ORIGINAL + b"tampered")]})[0]
    assert reply["files"][0]["ok"] is False and "does not match" in reply["files"][0]["error"]
    assert conf.read_bytes() == NEW
    assert listing(conf.parent) == ["gunicorn.conf.py"]


def test_restore_without_any_verified_copy(app):
    conf, backups = patched(app)
    backup_of(backups, conf).write_bytes(b"corrupt")
    reply = agent({"op": "restore", "files": [restore_item(conf, backups)]})[0]
    assert reply["files"][0]["ok"] is False and "no verified copy" in reply["files"][0]["error"]
    assert conf.read_bytes() == NEW


def test_restore_reports_already_when_the_file_is_original(app):
    conf, _backups = app
    inode = conf.stat().st_ino
    reply = agent({"op": "restore", "files": [restore_item(conf, content=ORIGINAL)]})[0]
    assert reply["files"] == [{"path": str(conf), "ok": True, "source": "already"}]
    assert conf.stat().st_ino == inode


def test_restore_recreates_a_deleted_file_and_continues_after_a_failure(app):
    conf, backups = patched(app)
    other = conf.parent / "other.py"
    other.write_bytes(b"changed")
    conf.unlink()
    reply = agent({"op": "restore", "files": [
        restore_item(other, content=b"not the original"),
        restore_item(conf, backups, mode=0o640),
    ]})[0]
    first, second = reply["files"]
    assert first["ok"] is False and second["ok"] is True and second["source"] == "host-backup"
    assert conf.read_bytes() == ORIGINAL and stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert sorted(listing(conf.parent)) == ["gunicorn.conf.py", "other.py"]


# --- read ---------------------------------------------------------------------------------------

def test_read_returns_content_sha_and_mode(app):
    conf, _ = app
    (info,) = agent({"op": "read", "paths": [str(conf)]})[0]["files"]
    assert base64.b64decode(info["content"]) == ORIGINAL
    assert info["sha256"] == sha(ORIGINAL)
    assert info["mode"] == 0o640 and info["size"] == len(ORIGINAL)
    assert info["exists"] is True and info["symlink"] is False and info["is_file"] is True


def test_read_reports_a_too_large_file_without_reading_it(app):
    conf, _ = app
    (info,) = agent({"op": "read", "paths": [str(conf)], "max_size": 10})[0]["files"]
    assert info["error"] == f"too large ({len(ORIGINAL)} bytes)"
    assert "content" not in info and "sha256" not in info


def test_read_flags_a_symlink_with_its_realpath(app):
    conf, _ = app
    link = conf.parent / "current.py"
    link.symlink_to(conf)
    (info,) = agent({"op": "read", "paths": [str(link)]})[0]["files"]
    assert info["symlink"] is True and info["realpath"] == str(conf.resolve())
    assert base64.b64decode(info["content"]) == ORIGINAL


def test_read_missing_and_dangling_paths_and_listings(app):
    conf, _ = app
    dangling = conf.parent / "dangling.py"
    dangling.symlink_to(conf.parent / "gone.py")
    reply = agent({"op": "read", "paths": [str(conf.parent / "nope.py"), str(dangling)],
                   "list_dirs": [str(conf.parent), str(conf.parent / "no-dir")]})[0]
    missing, broken = reply["files"]
    assert missing == {"path": str(conf.parent / "nope.py"), "exists": False}
    assert broken["symlink"] is True and "error" in broken and "content" not in broken
    assert reply["listings"][str(conf.parent)] == ["dangling.py", "gunicorn.conf.py"]
    assert "error" in reply["listings"][str(conf.parent / "no-dir")]


def test_unknown_op_is_reported_not_crashed():
    reply = agent({"op": "format-disk"}, {"op": "read", "paths": []})
    assert "agent_error" in reply[0] and "format-disk" in reply[0]["agent_error"]
    assert reply[1] == {"files": [], "listings": {}}


# --- full and read-only filesystems -------------------------------------------------------------

@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs (root only), unmounted afterwards whatever happens."""
    if not IS_ROOT:
        pytest.skip("mounting a tiny tmpfs needs root (run as root to test a full / read-only filesystem)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "remediation-unit-test",
                          str(mount_point)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        assert not os.path.ismount(mount_point)


def fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def app_on(fs: Path) -> Path:
    (fs / "app").mkdir()
    conf = fs / "app" / "gunicorn.conf.py"
    conf.write_bytes(ORIGINAL)
    conf.chmod(0o640)
    return conf


def test_write_on_a_full_filesystem_fails_cleanly(tiny_fs, tmp_path):
    conf = app_on(tiny_fs)
    fill(tiny_fs)
    backups = tmp_path / "backups"
    reply = agent(write_op(conf, NEW * 1000, backups))[0]
    assert reply["ok"] is False and "No space left" in reply["error"]
    assert conf.read_bytes() == ORIGINAL and stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert listing(conf.parent) == ["gunicorn.conf.py"]


def test_backup_on_a_full_filesystem_leaves_no_partial_file(tiny_fs):
    conf = app_on(tiny_fs)
    backups = tiny_fs / "backups"
    backups.mkdir()
    fill(tiny_fs)
    reply = agent(write_op(conf, NEW, backups))[0]
    assert reply["ok"] is False and "No space left" in reply["error"]
    assert conf.read_bytes() == ORIGINAL
    assert listing(conf.parent) == ["gunicorn.conf.py"]
    assert not [p for p in backups.rglob("*") if p.is_file()]


def test_write_on_a_read_only_filesystem_fails_cleanly(tiny_fs, tmp_path):
    conf = app_on(tiny_fs)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True, capture_output=True)
    reply = agent(write_op(conf, NEW, tmp_path / "backups"))[0]
    assert reply["ok"] is False and "Read-only file system" in reply["error"]
    assert conf.read_bytes() == ORIGINAL
    assert listing(conf.parent) == ["gunicorn.conf.py"]


def test_restore_on_a_full_filesystem_fails_cleanly(tiny_fs):
    conf = app_on(tiny_fs)
    conf.write_bytes(NEW)
    fill(tiny_fs)
    big = ORIGINAL * 2000
    reply = agent({"op": "restore", "files": [{"path": str(conf), "sha256": sha(big), "content": b64(big)}]})[0]
    assert reply["files"][0]["ok"] is False and "No space left" in reply["files"][0]["error"]
    assert conf.read_bytes() == NEW
    assert listing(conf.parent) == ["gunicorn.conf.py"]


COUNTER_SNIPPET = """
import json, os, sys
n = 0
for line in sys.stdin:
    n += 1
    sys.stdout.write(json.dumps({"db_server": {"default": {"connections_total": n, "pid": os.getpid()}}}) + "\\n")
    sys.stdout.flush()
"""


def counters_op(snippet: str = COUNTER_SNIPPET) -> dict:
    return {"op": "counters", "pid": os.getpid(), "uid": 0, "python": PYTHON, "cwd": "/", "container": None,
            "snippet": snippet, "args": []}


def test_counter_session_is_kept_for_the_agent_run():
    """One session per app for the agent's lifetime: the first read starts it (fresh), later ones reuse it."""
    first, second, third = agent(counters_op(), counters_op(), counters_op())
    assert [first["fresh"], second["fresh"], third["fresh"]] == [True, False, False]
    totals = [r["db_server"]["default"]["connections_total"] for r in (first, second, third)]
    assert totals == [1, 2, 3]
    assert len({r["db_server"]["default"]["pid"] for r in (first, second, third)}) == 1


def test_counter_session_that_dies_is_restarted_and_says_so():
    dies = COUNTER_SNIPPET.replace("    sys.stdout.flush()", "    sys.stdout.flush()\n    sys.exit(0)")
    first, second = agent(counters_op(dies), counters_op(dies))
    assert first["fresh"] and second["fresh"]  # the second read had to start a new session
    assert first["db_server"]["default"]["pid"] != second["db_server"]["default"]["pid"]


def test_counter_session_that_cannot_start_reports_errors():
    (reply,) = agent(counters_op("import sys; sys.exit(3)"))
    assert reply["errors"] and reply["fresh"]


RENDEZVOUS = """
import os, sys, time
mine, other = sys.argv[1], sys.argv[2]
open(mine, "w").close()
deadline = time.time() + 20
while not os.path.exists(other) and time.time() < deadline:
    time.sleep(0.01)
print("met" if os.path.exists(other) else "alone")
"""


def introspect_op(snippet: str, *args: str, uid: int = 0) -> dict:
    return {"op": "introspect", "pid": os.getpid(), "uid": uid, "python": PYTHON, "cwd": "/", "container": None,
            "snippet": snippet, "args": list(args)}


def agent_request(request: dict) -> list[dict]:
    proc = subprocess.run([PYTHON, str(AGENT)], input=json.dumps(request).encode(), capture_output=True, timeout=90)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)["replies"]


def test_parallel_read_only_ops_run_at_once(tmp_path):
    """Each snippet waits for the other's file: only concurrent runs can both meet."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    replies = agent_request({"ops": [introspect_op(RENDEZVOUS, a, b), introspect_op(RENDEZVOUS, b, a)],
                             "parallel": True})
    assert [r["stdout"].strip() for r in replies] == ["met", "met"]


def test_ops_run_in_order_without_parallel(tmp_path):
    short = RENDEZVOUS.replace("time.time() + 20", "time.time() + 0.5")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    replies = agent_request({"ops": [introspect_op(short, a, b), introspect_op(short, b, a)]})
    assert [r["stdout"].strip() for r in replies] == ["alone", "met"]


def test_a_batch_with_a_write_stays_in_order_even_when_parallel_is_asked(app):
    conf, backups = app
    write, read = agent_request({"ops": [write_op(conf, NEW, backups), {"op": "read", "paths": [str(conf)]}],
                                 "parallel": True})
    assert write["ok"] is True
    assert read["files"][0]["sha256"] == sha(NEW)  # the read ran after the write


@pytest.mark.skipif(not IS_ROOT, reason="dropping to another user needs root")
def test_app_snippets_run_as_the_app_user_without_supplementary_groups():
    import pwd

    nobody = pwd.getpwnam("nobody")
    (reply,) = agent(introspect_op("import os; print(os.getuid(), os.getgid(), os.getgroups())", uid=nobody.pw_uid))
    assert reply["stdout"].strip() == f"{nobody.pw_uid} {nobody.pw_gid} []"


# -- the app's own view and the counter session, through the real snippet and a real Django --------

NOISY_SETTINGS = """
import os
print("loading production settings")  # real settings modules do this
os.write(1, b"noise from C code\\n")
SECRET_KEY = "x"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(os.getcwd(), "db.sqlite3"),
                         "CONN_MAX_AGE": 0}}
"""


@pytest.fixture(scope="module")
def noisy_app(tmp_path_factory):
    """A settings module that prints to stdout at import, run by the lab's app interpreter (real Django)."""
    from lab import image

    venv = image.ensure_app_venv()
    project = tmp_path_factory.mktemp("noisy")
    (project / "noisy_settings.py").write_text(NOISY_SETTINGS)
    project.chmod(0o755)
    return str(venv / "bin" / "python"), str(project)


def snippet_op(op: str, python: str, cwd: str, first_arg: str, **extra) -> dict:
    from remediation.agent import INTROSPECT_SOURCE

    return {"op": op, "pid": os.getpid(), "uid": 0, "python": python, "cwd": cwd, "container": None,
            "snippet": INTROSPECT_SOURCE, "args": [first_arg], "env": {"DJANGO_SETTINGS_MODULE": "noisy_settings"},
            **extra}


def test_a_settings_module_that_prints_does_not_corrupt_the_view(noisy_app):
    from remediation.facts.gather import parse_introspection

    (reply,) = agent(snippet_op("introspect", *noisy_app, "0"))
    view = parse_introspection(reply)
    assert view.databases["default"]["CONN_MAX_AGE"] == 0
    assert "loading production settings" in reply["stderr"] and "noise from C code" in reply["stderr"]
    assert "loading production settings" not in reply["stdout"]


def test_counter_session_with_view_answers_both_from_one_interpreter(noisy_app):
    """The first read prints the view before its DB connect; a later one asks a separate introspection."""
    from remediation.facts.gather import parse_introspection

    first, second = agent(snippet_op("counters", *noisy_app, "1", view=True),
                          snippet_op("counters", *noisy_app, "1", view=True))
    assert first["fresh"] is True and second["fresh"] is False
    for reply in (first, second):
        assert not reply.get("errors"), reply
        assert reply["db_server"]["default"]["vendor"] == "sqlite"
        assert parse_introspection(reply["view"]).databases["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert "loading production settings" in second["view"]["stderr"]  # the separate run's own stderr


def test_counter_session_without_view_carries_none(noisy_app):
    (reply,) = agent(snippet_op("counters", *noisy_app, "1"))
    assert "view" not in reply and reply["db_server"]["default"]["vendor"] == "sqlite"


def test_the_environment_gives_names_of_all_and_values_of_few():
    """Read from a real process's /proc/PID/environ: a secret's name, never its value."""
    import subprocess


    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://u:pw@h/db", "WEB_CONCURRENCY": "3"}
    proc = subprocess.Popen(["sleep", "30"], env=env)
    try:
        import time

        deadline = time.time() + 10  # until the exec is done: before, the forking one's environ or none
        while time.time() < deadline and not (os.readlink(f"/proc/{proc.pid}/exe").endswith("sleep")
                                              and "\nState:\tS" in open(f"/proc/{proc.pid}/status").read()):
            time.sleep(0.01)
        values, names = hostagent.filtered_env(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert (values, names) == ({"WEB_CONCURRENCY": "3"}, ["DATABASE_URL", "PATH", "WEB_CONCURRENCY"])
    assert hostagent.filtered_env(proc.pid) == ({}, None)  # gone: nothing known, not "nothing set"


def test_a_supervisor_restart_may_wait_longer_than_one_socket_read(tmp_path):
    """A real supervisord whose program stops slowly (gunicorn's graceful_timeout is 30 s by
    default; here a program that ignores SIGTERM and stopwaitsecs = 11): stopProcess waits in
    supervisord, so the RPC call must be allowed the restart's time, not a fixed 10 s. Measured
    at 20 lab hosts on 2 CPUs: seven supervisor hosts rolled back on "TimeoutError: timed out"."""
    import shutil
    import subprocess
    import time


    if not shutil.which("supervisord"):
        pytest.skip("supervisord is not installed")
    sock, conf = tmp_path / "supervisor.sock", tmp_path / "supervisord.conf"
    conf.write_text(f"""[unix_http_server]
file={sock}

[supervisord]
logfile={tmp_path / "supervisord.log"}
pidfile={tmp_path / "supervisord.pid"}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

[program:slowstop]
command=sh -c 'trap "" TERM; while true; do sleep 0.2; done'
startsecs=1
stopwaitsecs=11
stopasgroup=false
""")
    daemon = subprocess.Popen(["supervisord", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and (hostagent.supervisor_rpc(str(conf)) is None or (
                hostagent.supervisor_rpc(str(conf)).supervisor.getProcessInfo("slowstop")["statename"] != "RUNNING")):
            time.sleep(0.2)
        started = time.time()
        reply = hostagent.op_supervisor_restart({"config": str(conf), "program": "slowstop", "timeout": 60})
        assert reply == {"ok": True, "state": "RUNNING", "before": "RUNNING"}, reply
        assert time.time() - started > 11  # the stop really waited out stopwaitsecs
    finally:
        proxy = hostagent.supervisor_rpc(str(conf))
        pid = proxy.supervisor.getProcessInfo("slowstop")["pid"] if proxy else 0
        if pid:
            os.kill(pid, 9)  # it ignores SIGTERM: do not wait out stopwaitsecs again
        daemon.terminate()
        daemon.wait(timeout=30)


BUILT_SETTINGS = """
import os
SECRET_KEY = "x"


def db_from_url(url):  # what django-environ's env.db() or a decouple cast= returns: no CONN_MAX_AGE key
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": url.split(":///", 1)[1]}


DATABASES = {"default": db_from_url("sqlite:///" + os.path.join(os.getcwd(), "db.sqlite3")),
             "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": "o.sqlite3", "CONN_MAX_AGE": 60}}
"""


def test_a_database_without_conn_max_age_runs_djangos_default_0(noisy_app):
    """Whatever built the dict, Django fills in CONN_MAX_AGE 0 (and CONN_HEALTH_CHECKS False from 4.1)."""
    from remediation.facts.gather import parse_introspection

    python, project = noisy_app
    (Path(project) / "built_settings.py").write_text(BUILT_SETTINGS)
    op = snippet_op("introspect", python, project, "0")
    op["env"] = {"DJANGO_SETTINGS_MODULE": "built_settings"}
    view = parse_introspection(agent(op)[0])
    default, other = view.databases["default"], view.databases["other"]
    assert (default["CONN_MAX_AGE"], default["CONN_HEALTH_CHECKS"]) == (0, False)
    assert default["defaulted"] == ["CONN_HEALTH_CHECKS", "CONN_MAX_AGE"]
    assert (other["CONN_MAX_AGE"], other["defaulted"]) == (60, ["CONN_HEALTH_CHECKS"])


def test_settings_on_pythonpath_outside_the_working_directory_are_among_the_loaded_files(noisy_app, tmp_path):
    """Settings kept outside the app (PYTHONPATH=/etc/APP, say): the app's own import names the
    file it ran, so the tool reads, patches and backs it up where it is (#23, item 3)."""
    from remediation.facts.gather import parse_introspection

    python, project = noisy_app
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    op = snippet_op("introspect", python, str(elsewhere), "0")
    op["env"] = {**op["env"], "PYTHONPATH": project}
    (reply,) = agent(op)
    view = parse_introspection(reply)
    assert view.extra["settings_module"]["loaded"] == [f"{project}/noisy_settings.py"]
    assert not any("site-packages" in p for p in view.extra["settings_module"]["loaded"])


def test_a_process_s_sockets_and_listening_address_come_from_the_kernel(tmp_path):
    """A real child listening on a loopback port: the agent names its address from the kernel's
    LISTEN rows matched to the child's own socket inodes, and maps those inodes to the child
    as a master's worker (both read /proc/PID/fd through one helper)."""
    import time

    code = ("import socket, sys, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        assert f"127.0.0.1:{port}" in hostagent.listening_addresses(child.pid)
        inodes = hostagent.socket_inodes(child.pid)
        assert inodes and all(hostagent.worker_sockets(os.getpid()).get(i) == child.pid for i in inodes)
    finally:
        child.kill()
        child.wait()
    time.sleep(0.05)
    assert hostagent.socket_inodes(child.pid) is None and hostagent.listening_addresses(child.pid) is None


def test_supervisor_xmlrpc_over_tcp_only_reports_auto_log_names(tmp_path):
    """A whole supervisord.conf that serves XML-RPC on an [inet_http_server] port and has no unix
    socket (InvenTree's contrib/deploy/supervisord.conf; real-file host real6), its program without
    log settings: supervisord itself is asked, over TCP, where the AUTO output files are."""
    import configparser
    import shutil
    import socket
    import time

    def address(text, url=""):
        parser = configparser.RawConfigParser()
        parser.read_string(text)
        return hostagent.supervisor_tcp_address(parser, url)

    assert address("[inet_http_server]\nport = 127.0.0.1:9001\n") == "127.0.0.1:9001"
    assert address("[inet_http_server]\nport = *:9001\n") == "127.0.0.1:9001"
    assert address("[inet_http_server]\nport = :9001\n") == "127.0.0.1:9001"
    assert address("[inet_http_server]\nport=9001\n[unix_http_server]\nfile=/run/s.sock\n") == ""  # the socket
    assert address("[unix_http_server]\nfile=/run/s.sock\n", "http://127.0.0.1:9002") == "127.0.0.1:9002"
    assert address("[inet_http_server]\nport = 127.0.0.1:9001\n", "unix:///run/s.sock") == ""
    if not shutil.which("supervisord"):
        pytest.skip("supervisord is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"""; a whole config, as InvenTree ships it
[supervisord]
logfile={tmp_path / "supervisord.log"}
pidfile={tmp_path / "supervisord.pid"}
childlogdir={tmp_path}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[inet_http_server]
port = 127.0.0.1:{port}

[supervisorctl]
serverurl=http://127.0.0.1:{port}

[program:inventree-server]
command=sh -c 'echo serving; exec sleep 600'
startsecs=1
""")
    daemon = subprocess.Popen(["supervisord", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, logs = time.time() + 20, None
        while time.time() < deadline and not (logs and logs["pid"]):
            logs = hostagent.supervisor_rpc_logs(str(conf), "inventree-server")
            time.sleep(0.2)
        assert logs and logs["via"] == "xmlrpc", logs
        assert logs["stdout_logfile"].startswith(str(tmp_path / "inventree-server-stdout---supervisor-")), logs
        status, infos = hostagent.supervisor_rpc_status(str(conf))
        assert "inventree-server" in status and infos[0]["pid"] == logs["pid"]
    finally:
        proxy = hostagent.supervisor_rpc(str(conf))
        pid = proxy.supervisor.getProcessInfo("inventree-server")["pid"] if proxy else 0
        if pid:
            os.kill(pid, 9)
        daemon.terminate()
        daemon.wait(timeout=30)
