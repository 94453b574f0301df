"""The fake host (tests/fakeremote.py) answers as the real agent does: the same requests run through
the real host agent (the payload transport/payload.py assembles) (locally, on files in a tmp dir, as test_unit_agent.py
runs it) and through the fake (the same files in memory), and the replies must agree in shape and
in every value that does not depend on the machine (sha256, content, ok, source, errors' gist).

This keeps the flow tests honest while the agent changes: a reply the fake shapes differently from
the agent fails here, not silently in a flow test that passes against a fake nobody runs."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from agent_payload import hostagent

from fakeremote import FakeFile, FakeHost, FakeRemote
from remediation.config.inventory import Host
from test_unit_agent import AGENT, PYTHON

ORIGINAL = b"worker_class = 'gevent'\nworkers = 2\nthreads = 16\n"
NEW = b"worker_class = 'gthread'\nworkers = 2\nthreads = 8\n"
OTHER = b"DATABASES = {}\n"


def real_agent(*ops: dict) -> list[dict]:
    proc = subprocess.run([PYTHON, str(AGENT)], input=json.dumps({"ops": list(ops)}).encode(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)["replies"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def both(tmp_path: Path):
    """The same tree on disk (for the agent) and in a fake host; returns (root, fake remote)."""
    app = tmp_path / "srv" / "app"
    (app / "site").mkdir(parents=True)
    (app / "gunicorn.conf.py").write_bytes(ORIGINAL)
    (app / "site" / "settings.py").write_bytes(OTHER)
    fake = FakeHost("supervisor")
    fake.files = {str(app / "gunicorn.conf.py"): FakeFile(ORIGINAL), str(app / "site" / "settings.py"): FakeFile(OTHER)}
    remote = FakeRemote(fake, Host("web1")).open()
    return app, remote


def same_shape(real: dict, fake: dict, values: tuple[str, ...] = ()) -> None:
    assert set(fake) == set(real), (sorted(fake), sorted(real))
    for key in values:
        assert fake[key] == real[key], (key, fake[key], real[key])


def test_read_replies_agree(tmp_path):
    app, remote = both(tmp_path)
    op = {"op": "read", "paths": [str(app / "gunicorn.conf.py"), str(app / "missing.py")],
          "globs": [str(app / "site" / "*.py")], "list_dirs": [str(app), str(app / "nope")]}
    real, fake = real_agent(op)[0], remote.agent(op)[0]
    assert [f["path"] for f in fake["files"]] == [f["path"] for f in real["files"]]
    for r, f in zip(real["files"], fake["files"], strict=True):
        same_shape(r, f, ("exists", "sha256", "content", "size", "is_file", "symlink", "realpath")
                   if r["exists"] else ("exists",))
    assert fake["listings"][str(app)] == real["listings"][str(app)]
    assert "error" in fake["listings"][str(app / "nope")] and "error" in real["listings"][str(app / "nope")]
    sha_only = {**op, "sha_only": True, "globs": [], "list_dirs": []}
    real, fake = real_agent(sha_only)[0], remote.agent(sha_only)[0]
    for r, f in zip(real["files"], fake["files"], strict=True):
        same_shape(r, f, ("sha256",) if r["exists"] else ())


def test_write_and_restore_replies_agree(tmp_path):
    app, remote = both(tmp_path)
    path = str(app / "gunicorn.conf.py")
    backup_dir = str(tmp_path / "backups" / "run1")
    write = {"op": "write", "path": path, "expected_sha256": sha(ORIGINAL), "content": b64(NEW),
             "backup_dir": backup_dir, "validate": "python", "python": PYTHON}
    real, fake = real_agent(write)[0], remote.agent(write)[0]
    same_shape(real, fake, ("ok", "backup", "sha256_before", "sha256_after"))
    assert remote.fake.files[path].content == Path(path).read_bytes() == NEW
    assert remote.fake.files[real["backup"]].content == Path(real["backup"]).read_bytes() == ORIGINAL

    stale = {**write, "expected_sha256": sha(ORIGINAL)}  # the file is NEW now: changed since planned
    real, fake = real_agent(stale)[0], remote.agent(stale)[0]
    same_shape(real, fake, ("ok",))
    assert "changed since it was planned" in real["error"] and "changed since it was planned" in fake["error"]

    invalid = {**write, "expected_sha256": sha(NEW), "content": b64(b"def broken(:\n")}
    real, fake = real_agent(invalid)[0], remote.agent(invalid)[0]
    same_shape(real, fake, ("ok", "backup"))
    assert "failed validation" in real["error"] and "failed validation" in fake["error"]
    assert remote.fake.files[path].content == Path(path).read_bytes() == NEW  # left as it was

    items = [{"path": path, "sha256": sha(ORIGINAL), "backup": real["backup"]},
             {"path": str(app / "site" / "settings.py"), "sha256": sha(OTHER)},
             {"path": str(app / "site" / "other.py"), "sha256": sha(b"x = 1\n"), "content": b64(b"x = 2\n")}]
    restore = {"op": "restore", "files": items}
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]
    assert [f["path"] for f in fake["files"]] == [f["path"] for f in real["files"]]
    for r, f in zip(real["files"], fake["files"], strict=True):
        assert f["ok"] == r["ok"] and f.get("source") == r.get("source"), (r, f)
    assert remote.fake.files[path].content == Path(path).read_bytes() == ORIGINAL
    assert real["files"][2]["error"] == fake["files"][2]["error"] == "controller copy does not match sha256"


def test_restore_from_the_controller_copy_agrees(tmp_path):
    app, remote = both(tmp_path)
    path = str(app / "gunicorn.conf.py")
    Path(path).write_bytes(NEW)
    remote.fake.files[path].content = NEW
    restore = {"op": "restore", "files": [{"path": path, "sha256": sha(ORIGINAL), "backup": str(tmp_path / "gone"),
                                           "content": b64(ORIGINAL)}]}
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]
    assert [(f["ok"], f["source"]) for f in fake["files"]] == [(f["ok"], f["source"]) for f in real["files"]] \
        == [(True, "controller-copy")]
    assert remote.fake.files[path].content == Path(path).read_bytes() == ORIGINAL


def test_another_hands_edit_is_never_overwritten_and_both_agree(tmp_path):
    """A file neither original nor this run's bytes: left as it is (never written by the run), or
    refused (written by the run, then edited by someone else); the run's own bytes are restored."""
    app, remote = both(tmp_path)
    path = str(app / "gunicorn.conf.py")
    edited = b"workers = 9  # edited by hand\n"
    Path(path).write_bytes(edited)
    remote.fake.files[path].content = edited
    base = {"path": path, "sha256": sha(ORIGINAL), "content": b64(ORIGINAL), "ours": [sha(NEW)]}
    restore = {"op": "restore", "files": [{**base, "written": False}, {**base, "written": True}]}
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]
    assert [(f["ok"], f.get("source")) for f in real["files"]] == [(f["ok"], f.get("source")) for f in fake["files"]] \
        == [(True, "untouched"), (False, None)]
    assert "changed by another hand" in real["files"][1]["error"] and "changed by another hand" in fake["files"][1]["error"]
    assert Path(path).read_bytes() == remote.fake.files[path].content == edited
    Path(path).write_bytes(NEW)  # the run's own bytes: put back
    remote.fake.files[path].content = NEW
    restore = {"op": "restore", "files": [{**base, "written": True}]}
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]
    assert [(f["ok"], f.get("source")) for f in real["files"]] == [(f["ok"], f.get("source")) for f in fake["files"]] \
        == [(True, "controller-copy")]
    assert Path(path).read_bytes() == remote.fake.files[path].content == ORIGINAL


def test_lock_replies_agree(tmp_path):
    _app, remote = both(tmp_path)
    lock = str(tmp_path / "lock" / "remediation.lock")
    steps = [{"op": "lock", "run_id": "a", "path": lock}, {"op": "lock", "run_id": "b", "path": lock},
             {"op": "unlock", "run_id": "b", "path": lock}, {"op": "unlock", "run_id": "a", "path": lock},
             {"op": "unlock", "run_id": "a", "path": lock}]
    real = real_agent(*steps)
    fake = remote.agent(*steps)
    for r, f in zip(real, fake, strict=True):
        same_shape(r, f, ("ok",) + (("held",) if "held" in r else ()))
        if "holder" in r:
            assert f["holder"]["run_id"] == r["holder"]["run_id"]


def test_file_log_replies_agree(tmp_path):
    _app, remote = both(tmp_path)
    log = tmp_path / "app.log"
    text = remote.fake.log_text()
    log.write_text(text)
    remote.fake.log_path = str(log)  # the fake's app log is the file written here
    source = {"kind": "file", "path": str(log), "key": "app"}
    real = real_agent({"op": "logs", "sources": [source], "bytes": 0})[0]
    fake = remote.agent({"op": "logs", "sources": [source], "bytes": 0})[0]
    same_shape(real, fake, ("_offsets", "app"))
    later = {**source, "offset": real["_offsets"]["app"]}
    with log.open("a") as fh:
        fh.write("Using worker: gthread\n")
    remote.fake._log("Using worker: gthread")
    real = real_agent({"op": "logs", "sources": [later]})[0]
    fake = remote.agent({"op": "logs", "sources": [later]})[0]
    same_shape(real, fake, ("_offsets", "app"))


# -- the fake's app loader against the real introspection snippet (gunicorn's and Django's own loaders)

APP_PYTHON = Path("/var/cache/remediation-lab/appvenv/bin/python")  # the lab's app venv, where it exists
SNIPPET = Path(__file__).resolve().parents[1] / "remediation" / "agent" / "introspect.py"
COMPARED = ("worker_class", "effective_worker_class", "workers", "threads", "worker_connections", "preload_app",
            "reload", "max_requests", "bind", "app_uri")


def real_view(root: Path, fake: FakeHost, argv: list[str]) -> dict:
    """The snippet under the app venv's python, on the fake host's files written under `root`."""
    for path, f in fake.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.content)
    master = fake.master
    cwd = str(root / master["cwd"].lstrip("/"))
    words = [w.replace(master["cwd"], cwd) for w in argv[master["gunicorn_args_from"]:]]
    env = {"PATH": "/usr/bin:/bin", **master.get("env", {})}
    proc = subprocess.run([str(APP_PYTHON), "-I", "-B", str(SNIPPET), "0", "gunicorn", *words], cwd=cwd, env=env,
                          capture_output=True, timeout=120)
    out = proc.stdout.decode()
    assert "@@INTROSPECT@@" in out, proc.stderr.decode()[-2000:]
    view = json.loads(out.split("@@INTROSPECT@@", 1)[1])
    text = json.dumps(view).replace(cwd, master["cwd"])  # back to the host's paths
    return json.loads(text)


def compare_views(real: dict, fake: dict) -> None:
    assert fake["errors"] == real["errors"] == []
    assert {k: fake["gunicorn"][k] for k in COMPARED} == {k: real["gunicorn"][k] for k in COMPARED}
    assert fake["databases"] == real["databases"]
    assert fake["settings_module"] == real["settings_module"]


@pytest.mark.skipif(not APP_PYTHON.exists(), reason="no app venv with gunicorn and Django here (the lab's)")
@pytest.mark.parametrize("name", ["supervisor", "compose", "systemd", "unmanaged"])
def test_the_fake_app_loader_reads_the_files_as_gunicorn_and_django_do(name, tmp_path):
    """The view the fake host gives the flow (its app loader) is what gunicorn's and Django's own
    loaders make of the same files: before the fix, and after it (the files the flow wrote)."""
    from test_unit_flow_fake import load, run_scenario

    fake = FakeHost(name)
    compare_views(real_view(tmp_path / "before", fake, fake.master["argv"]), fake.view())
    if name == "unmanaged":
        return
    _run, fake, _journal = run_scenario(load(f"remediated_{name}"), tmp_path / "runs")
    patched = fake.view()
    assert patched["gunicorn"]["worker_class"] == "gthread"
    compare_views(real_view(tmp_path / "after", fake, fake.master["argv"]), patched)


# -- the recorded probes: the agent's own shape, and what each one models

PROBES = Path(__file__).parent / "fixtures" / "probe"
OPTIONAL_MASTER_KEYS = {"docker", "supervisor", "systemd"}  # only when a container / supervisord / systemd runs it


def wait_for_exec(pid: int) -> None:
    """Until the forked child runs its own argv (before exec, /proc shows the parent's)."""
    import time

    for _ in range(500):
        if b"gunicorn.conf.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never ran its command")


def probe_of_a_process(monkeypatch) -> dict:
    """op_probe's reply, by the agent's own code, for a local process that looks like gunicorn
    (the process table narrowed to it and its ancestors: other gunicorns here are not ours)."""
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "/srv/app/venv/bin/gunicorn",
                              "-c", "gunicorn.conf.py", "app.wsgi:application"])
    try:
        wait_for_exec(child.pid)
        full = hostagent.proc_table()
        by_pid = {row["pid"]: row for row in full}
        keep, cursor = set(), child.pid
        while cursor in by_pid and cursor not in keep:
            keep.add(cursor)
            cursor = by_pid[cursor]["ppid"]
        monkeypatch.setattr(hostagent, "proc_table", lambda: [row for row in full if row["pid"] in keep])
        reply = hostagent.op_probe({"op": "probe"})
    finally:
        child.kill()
        child.wait()
    assert [m["pid"] for m in reply["masters"]] == [child.pid]
    return reply


@pytest.mark.parametrize("name", ["systemd", "unmanaged"])
def test_made_probes_have_the_agent_s_shape(name, monkeypatch):
    real = probe_of_a_process(monkeypatch)
    made = json.loads((PROBES / f"{name}.json").read_text())
    assert set(made) - {"_models"} == set(real)
    master, real_master = made["masters"][0], real["masters"][0]
    assert set(master) - OPTIONAL_MASTER_KEYS == set(real_master) - OPTIONAL_MASTER_KEYS
    assert set(master["workers"][0]) == {"pid", "threads", "argv"}
    assert set(master["ancestors"][0]) == set(real_master["ancestors"][0])


OLDER_AGENT_LACKS = {"env_names", "nspid", "started", "listen"}  # what the agent added since supervisor/compose.json


def test_recorded_probes_are_an_older_agent_s_and_still_parse(monkeypatch):
    """supervisor.json and compose.json were recorded by an older agent (a `ps` text, no
    env_names, no nspid, no started): every other key is the agent's, and the facts parse them."""
    from remediation.facts.parse import parse_probe

    real = probe_of_a_process(monkeypatch)
    real_master = set(real["masters"][0]) - OPTIONAL_MASTER_KEYS
    for name in ("supervisor", "compose"):
        recorded = json.loads((PROBES / f"{name}.json").read_text())
        assert set(recorded) - {"ps"} == set(real)
        assert real_master - (set(recorded["masters"][0]) - OPTIONAL_MASTER_KEYS) == OLDER_AGENT_LACKS
        master = parse_probe(recorded).master()
        assert master.started is None and master.nspid is None  # unknown: decided without them


@pytest.mark.parametrize("name", ["supervisor", "compose", "systemd", "unmanaged"])
def test_the_fake_s_probe_replies_have_the_agent_s_shape(name, monkeypatch):
    """The fake answers a probe as the agent does now, whatever its recording lacks: the master's
    start time and its pid in its own namespace (1 for a container's init), the keys the agent
    adds only where supervisord (with its XML-RPC log files) or systemd (`systemctl show`) runs it."""
    from remediation.facts.parse import parse_probe

    real = probe_of_a_process(monkeypatch)
    real_master = set(real["masters"][0]) - OPTIONAL_MASTER_KEYS
    fake = FakeHost(name)
    reply = FakeRemote(fake, Host("web1")).open().agent({"op": "probe"})[0]
    assert set(reply) - {"_models"} == set(real)
    master = reply["masters"][0]
    lacks = {"env_names"} if name in ("supervisor", "compose") else set()  # the recording's own, never made up
    assert real_master - set(master) == lacks and set(master) - real_master <= OPTIONAL_MASTER_KEYS
    assert isinstance(master["started"], float) and master["started"] < reply["time"]
    assert master["nspid"] == (1 if master["container"] else master["pid"])
    if name == "supervisor":
        assert master["supervisor"]["via"] == "xmlrpc"
        assert master["supervisor"]["logs"] == {"stdout_logfile": "/var/log/supervisor/schoolsite.log",
                                                "stderr_logfile": "", "pid": master["pid"], "via": "xmlrpc"}
    if name == "systemd":
        assert master["systemd"]["main_pid"] == master["pid"]
    parsed = parse_probe(reply).master()
    assert (parsed.started, parsed.nspid) == (master["started"], master["nspid"])


@pytest.mark.parametrize("name, kind, program", [
    ("supervisor", "supervisor", "schoolsite"), ("compose", "docker-compose", "web"),
    ("systemd", "systemd", "schoolsite.service"), ("unmanaged", "unknown", None)])
def test_each_probe_is_recognised_by_its_manager(name, kind, program):
    from remediation.facts.parse import parse_probe

    master = parse_probe(json.loads((PROBES / f"{name}.json").read_text())).master()
    assert (master.restart.kind, master.restart.program) == (kind, program)


def test_create_and_its_removal_agree_and_leave_the_tree_as_it_was(tmp_path):
    """A file the run creates (a systemd drop-in) in a directory that did not exist: the create
    names the directories it made; the restore of an `absent` item removes the file and them, so
    the tree is as before; a file already there is refused; another hand's bytes are not removed."""
    app, remote = both(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    path = str(app / "unit.d" / "sub" / "50-remediation.conf")
    create = {"op": "create", "path": path, "content": b64(b"[Service]\nEnvironment=A=1\n")}
    real, fake = real_agent(create)[0], remote.agent(create)[0]
    same_shape(real, fake, ("ok", "created_dirs", "sha256_after"))
    assert real["created_dirs"] == [str(app / "unit.d"), str(app / "unit.d" / "sub")]
    assert Path(path).read_bytes() == remote.fake.files[path].content == b"[Service]\nEnvironment=A=1\n"
    assert oct(Path(path).stat().st_mode & 0o777) == "0o644"
    again = real_agent(create)[0], remote.agent(create)[0]
    assert [r["ok"] for r in again] == [False, False] and all("exists" in r["error"] for r in again)

    item = {"path": path, "absent": True, "ours": [real["sha256_after"]], "created_dirs": real["created_dirs"]}
    restore = {"op": "restore", "files": [item]}
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]
    assert [(f["ok"], f["source"]) for f in real["files"]] == [(f["ok"], f["source"]) for f in fake["files"]] \
        == [(True, "removed")]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before and path not in remote.fake.files
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]  # a second rollback: nothing to do
    assert [(f["ok"], f["source"]) for f in real["files"]] == [(f["ok"], f["source"]) for f in fake["files"]] \
        == [(True, "already")]

    Path(path).parent.mkdir(parents=True)
    Path(path).write_bytes(b"# someone's own drop-in\n")
    remote.fake.files[path] = FakeFile(b"# someone's own drop-in\n")
    real, fake = real_agent(restore)[0], remote.agent(restore)[0]
    assert [f["ok"] for f in real["files"]] == [f["ok"] for f in fake["files"]] == [False]
    assert "another hand" in real["files"][0]["error"] and "another hand" in fake["files"][0]["error"]
    assert Path(path).read_bytes() == b"# someone's own drop-in\n"


def test_the_directories_a_create_will_make_are_known_before_it(tmp_path):
    """apply journals them with the intent (a rollback after a crash mid-create removes them)."""
    from remediation.apply import missing_dirs

    app, remote = both(tmp_path)
    path = str(app / "unit.d" / "sub" / "50-remediation.conf")
    assert missing_dirs(remote, path) == [str(app / "unit.d"), str(app / "unit.d" / "sub")]
    listing = real_agent({"op": "read", "paths": [], "list_dirs": [str(app / "unit.d"), str(app)]})[0]["listings"]
    assert isinstance(listing[str(app / "unit.d")], dict) and isinstance(listing[str(app)], list)
    assert missing_dirs(remote, str(app / "site" / "new.py")) == []
