"""The controller's run journal: fsynced events, crash-torn lines, byte-identical originals."""
from __future__ import annotations

import json
import os
import stat

import pytest

from remediation import journal as journal_mod
from remediation.journal import Journal, list_runs


@pytest.fixture
def runs(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def journal(runs):
    return Journal.create("remediate", "playbooks/gevent-to-gthread.yml", ["lab1", "lab2"], runs_dir=runs)


def test_create_writes_private_metadata(journal, runs):
    meta = journal.meta()
    assert meta["run_id"] == journal.run_id and meta["kind"] == "remediate"
    assert meta["hosts"] == ["lab1", "lab2"] and meta["pid"] == os.getpid()
    assert journal.root == runs / journal.run_id
    assert stat.S_IMODE(journal.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((journal.root / "run.json").stat().st_mode) == 0o600
    assert not list(journal.root.glob("*.partial"))


def test_events_are_appended_fsynced_and_filtered_by_host(journal, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    journal.record("lab1", "stage", stage="inspect")
    journal.record("lab2", "stage", stage="inspect")
    journal.record("lab1", "change-intent", path="/srv/app/g.py", sha256_before="a" * 64)
    assert len(synced) == 3
    assert [e["event"] for e in journal.events()] == ["stage", "stage", "change-intent"]
    lab1 = journal.events("lab1")
    assert [e.get("stage") or e.get("path") for e in lab1] == ["inspect", "/srv/app/g.py"]
    assert all(isinstance(e["t"], float) for e in lab1)
    lines = (journal.root / "events.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["host"] in ("lab1", "lab2") for line in lines)


def test_reopened_journal_reads_the_same_events(journal, runs):
    journal.record("lab1", "stage", stage="apply")
    again = Journal.open(journal.run_id, runs_dir=runs)
    assert again.events() == journal.events()
    with pytest.raises(FileNotFoundError):
        Journal.open("19700101-000000-abcdef", runs_dir=runs)


def test_torn_last_line_is_skipped(journal):
    journal.record("lab1", "change-intent", path="/srv/app/a.py", sha256_before="1" * 64)
    line = json.dumps({"t": 1.0, "host": "lab1", "event": "change-intent", "path": "/srv/app/b.py"})
    with open(journal.root / "events.jsonl", "ab") as fh:
        fh.write(line.encode()[: len(line) // 2])  # the controller died mid-write
    events = journal.events("lab1")
    assert [e["path"] for e in events] == ["/srv/app/a.py"]


def test_event_recorded_after_a_torn_line_is_not_lost(journal):
    journal.record("lab1", "stage", stage="apply")
    with open(journal.root / "events.jsonl", "ab") as fh:
        fh.write(b'{"t": 1.0, "host": "lab1", "ev')
    journal.record("lab1", "rolled-back", reason="resumed after a crash")
    assert [e["event"] for e in journal.events("lab1")] == ["stage", "rolled-back"]


def test_no_events_yet(journal):
    assert journal.events() == [] and journal.changed_files("lab1") == []


def test_keep_original_is_byte_identical_and_private(journal):
    blobs = {
        "/srv/app/gunicorn.conf.py": b"worker_class = 'gevent'\r\nworkers = 2\n\n",
        "/srv/app/schoolsite/settings.py": "# 设置\nCONN_MAX_AGE = 600\n".encode(),
        "/srv/app/binary.bin": bytes(range(256)) * 4 + b"\x00\xff",
        "/srv/app/empty": b"",
    }
    for path, content in blobs.items():
        copy = journal.keep_original("lab1", path, content)
        assert copy.read_bytes() == content
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert copy.is_relative_to(journal.root / "originals" / "lab1")
        assert journal.original("lab1", path) == content
    assert journal.original("lab2", "/srv/app/gunicorn.conf.py") is None
    assert not list(journal.root.rglob("*.partial"))


def test_first_original_kept_in_a_run_is_not_overwritten(journal):
    journal.keep_original("lab1", "/srv/app/g.py", b"original\n")
    journal.keep_original("lab1", "/srv/app/g.py", b"already patched\n")
    assert journal.original("lab1", "/srv/app/g.py") == b"original\n"


@pytest.mark.parametrize("path", ["/srv/../../../../escape.py", "/../../outside", "srv/./app/../../../x"])
def test_original_copies_never_escape_the_run_directory(journal, path):
    copy = journal.keep_original("lab1", path, b"x")
    assert copy.resolve().is_relative_to((journal.root / "originals" / "lab1").resolve())
    assert journal.original("lab1", path) == b"x"


@pytest.mark.parametrize("host", ["", ".", "..", "../lab2", "a/b"])
def test_unsafe_host_names_are_refused_for_copies(journal, host):
    with pytest.raises(ValueError):
        journal.keep_original(host, "/srv/app/g.py", b"x")


def test_changed_files_one_per_path_in_first_intent_order(journal):
    journal.record("lab1", "change-intent", path="/srv/app/b.py", sha256_before="b1")
    journal.record("lab2", "change-intent", path="/srv/app/a.py", sha256_before="other-host")
    journal.record("lab1", "change-done", path="/srv/app/b.py", sha256_before="b1", sha256_after="b2")
    journal.record("lab1", "change-intent", path="/srv/app/a.py", sha256_before="a1")
    journal.record("lab1", "change-intent", path="/srv/app/b.py", sha256_before="b2")  # a retry
    changed = journal.changed_files("lab1")
    assert [(c["path"], c["sha256_before"]) for c in changed] == [("/srv/app/b.py", "b1"), ("/srv/app/a.py", "a1")]
    assert [c["path"] for c in journal.changed_files("lab2")] == ["/srv/app/a.py"]


def test_write_report_is_atomic_json(journal):
    journal.write_report({"hosts": {"lab1": "remediated"}})
    assert json.loads((journal.root / "report.json").read_text()) == {"hosts": {"lab1": "remediated"}}
    assert not list(journal.root.glob("*.partial"))


def test_list_runs_oldest_first_and_only_complete_runs(runs):
    assert list_runs(runs) == []
    for run_id in ("20260102-000000-aaaaaa", "20251231-235959-ffffff", "20260102-000000-000001"):
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "run.json").write_text(json.dumps({"run_id": run_id}))
    (runs / "20260103-000000-crashed").mkdir()  # died before run.json was renamed into place
    (runs / "20260103-000000-crashed" / "run.json.partial").write_text("{")
    (runs / "stray-file").write_text("x")
    found = list_runs(runs)
    assert [j.run_id for j in found] == ["20251231-235959-ffffff", "20260102-000000-000001", "20260102-000000-aaaaaa"]
    assert all(j.root == runs / j.run_id for j in found)


def test_new_run_ids_sort_by_time_and_differ(runs):
    first = Journal.create("remediate", None, ["lab1"], runs_dir=runs)
    second = Journal.create("rollback", None, ["lab1"], runs_dir=runs)
    assert first.run_id != second.run_id
    assert first.run_id[:15] <= second.run_id[:15]
    assert {j.run_id for j in list_runs(runs)} == {first.run_id, second.run_id}


def test_a_created_file_is_rolled_back_by_removal_even_when_the_run_died_mid_create(journal):
    """A file the run created is journalled `absent_before`: its rollback item removes it (only
    while it holds this run's bytes) with the directories the create made; a run that died after
    the intent still names the intended bytes, so a finished create is removed too."""
    from remediation.rollback import _restore_items

    path = "/etc/systemd/system/web.service.d/50-remediation.conf"
    journal.record("lab1", "change-intent", path=path, absent_before=True, sha256_before=None, sha256_intended="aa",
                   created_dirs=["/etc/systemd/system/web.service.d"])  # missing when the plan asked
    assert _restore_items(journal, "lab1") == [{"path": path, "absent": True, "ours": ["aa"],
                                                "created_dirs": ["/etc/systemd/system/web.service.d"]}]
    journal.record("lab1", "change-done", path=path, sha256_before=None, sha256_after="aa", created=True,
                   created_dirs=["/etc/systemd/system/web.service.d"])
    assert _restore_items(journal, "lab1") == [{"path": path, "absent": True, "ours": ["aa"],
                                                "created_dirs": ["/etc/systemd/system/web.service.d"]}]
    assert _restore_items(journal, "lab2") == []
