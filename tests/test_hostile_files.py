"""Hostile files (issue 7): a settings file the tool cannot safely read or patch on a real lab host
is reported, never patched, and nothing on the host changes; a broken or hostile playbook is one
clear line and exit 2 before anything runs. Each case records a "bad input" row of the README's
fault matrix (see conftest)."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from labtools import events, invoke, master_pid, tree_snapshot

from remediation.agent.core import MAX_FILE
from lab import lab
from lab.inventory import INVENTORY_PATH
from remediation.config.playbook import DEFAULT_PLAYBOOK

OUTSIDE = "/srv/shared-config"  # inside the host, outside its app dir (/srv/app)

# The Django settings module file each supervisor host's running app imports.
SETTINGS = {"lab1": "schoolsite/settings.py", "lab2": "schoolsite/settings/production.py"}


def _latin1(spec, path: Path, coding_line: bool) -> bool:
    text = path.read_text(encoding="utf-8")
    head = "# -*- coding: latin-1 -*-\n" if coding_line else ""
    path.write_bytes((head + "# Paramètres de l'école (café, façade)\n" + text).encode("latin-1"))
    return coding_line  # without the coding line Python cannot import it: the app is not restarted


def _huge(spec, path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    line = "# " + "generated settings documentation, kept in the file " * 2 + "\n"
    padding = line * ((MAX_FILE + 64 * 1024) // len(line) + 1)
    path.write_text(text + padding, encoding="utf-8")
    assert path.stat().st_size > MAX_FILE
    return True


def _symlink(spec, path: Path) -> bool:
    outside = spec.dir / OUTSIDE.lstrip("/")
    outside.mkdir(mode=0o755, exist_ok=True)
    real = outside / path.name
    real.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(f"{OUTSIDE}/{path.name}")  # absolute, as seen inside the host
    return True


# case id -> (host, planter, what the one-line reason must say, matrix row)
CASES = {
    "latin1-with-coding-line": ("lab1", lambda s, p: _latin1(s, p, True), "cannot read: not UTF-8",
                                "settings file not UTF-8 (latin-1, with a coding line)"),
    "latin1-without-coding-line": ("lab2", lambda s, p: _latin1(s, p, False), "cannot read: not UTF-8",
                                   "settings file not UTF-8 (latin-1, no coding line)"),
    "huge": ("lab1", _huge, "cannot read: too large",
             f"settings file over the agent's read limit ({MAX_FILE} bytes)"),
    "symlink-lab1": ("lab1", _symlink, f"is a symlink (to {OUTSIDE}/settings.py)",
                     "settings file a symlink outside the app dir (single settings.py)"),
    "symlink-lab2": ("lab2", _symlink, f"is a symlink (to {OUTSIDE}/production.py)",
                     "settings file a symlink outside the app dir (split settings)"),
}


@pytest.mark.lab
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_settings_file_is_reported_not_patched(fleet, quick_playbook, runs_dir, case, fault_matrix):
    host, plant, reason, row = CASES[case]
    spec = fleet.host(host)
    app = spec.dir / "srv" / "app"
    settings = app / SETTINGS[host]
    host_path = "/srv/app/" + SETTINGS[host]
    roots = (app, spec.dir / "etc-supervisor", spec.dir / "srv" / OUTSIDE.removeprefix("/srv/"))
    try:
        if plant(spec, settings):
            lab.restart_app(spec)  # the running app really uses the hostile file
        before, pid = tree_snapshot(*roots), master_pid(spec)
        assert lab.app_healthy(spec)
        rc, report, err = invoke("remediate", "--host", host, "--yes", "--json", "-", "--inventory",
                                 str(INVENTORY_PATH), "--playbook", str(quick_playbook), runs_dir=runs_dir)
        assert rc == 1, err
        run = report["hosts"][host]
        assert (run["status"], run["stage"]) == ("refused", "plan"), run
        assert host_path in run["error"] and reason in run["error"] and "\n" not in run["error"], run["error"]
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"{host}: refused at stage plan: ") and host_path in last and reason in last
        assert "Traceback" not in err and "Traceback" not in str(report)
        # nothing changed: no write, no backup, no restart, every file byte-identical, still serving
        assert run["changes"] == [] and not (spec.dir / "backups" / "remediation" / report["run_id"]).exists()
        assert not [e for e in events(runs_dir)[1] if e["event"] in ("change-intent", "change-done")]
        assert tree_snapshot(*roots) == before
        assert master_pid(spec) == pid
        assert lab.app_healthy(spec)
        fault_matrix.add_input(row, rejected=True)
    finally:
        lab.reset([spec])
        outside = spec.dir / OUTSIDE.lstrip("/")
        if outside.exists():
            for path in outside.iterdir():
                path.unlink()
            outside.rmdir()


# --- playbooks: broken or hostile, refused before any connection (no lab needed) --------------

BASE = DEFAULT_PLAYBOOK.read_text(encoding="utf-8")


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _playbook_case(name: str, marker: Path) -> tuple[bytes, int, str]:
    """(playbook bytes, line the error must name, what the error must say)."""
    if name == "invalid YAML":
        text = BASE.replace("  workers: 2\n", "  workers: 2: 3\n")
        return text.encode(), _line(text, "workers: 2: 3"), "invalid YAML"
    if name == "wrong type":
        text = BASE.replace("  workers: 2\n", '  workers: "2"\n')
        return text.encode(), _line(text, "workers:"), "gunicorn.workers: must be a number, not a string"
    if name == "unknown key":
        text = BASE.replace("  threads: 8\n", "  threads: 8\n  preload: true\n")
        return text.encode(), _line(text, "preload:"), "gunicorn.preload: unknown key"
    if name == "shell metacharacters in a value":
        hostile = f"gthread; touch {marker} $(touch {marker}) `touch {marker}` | tee {marker}"
        text = BASE.replace("worker_class: gthread", f"worker_class: '{hostile}'")
        return text.encode(), _line(text, "worker_class:"), "gunicorn.worker_class: must be one of gthread, sync"
    if name == "python object tag":
        text = BASE.replace("name: gevent-to-gthread", f'name: !!python/object/apply:os.system ["touch {marker}"]')
        return text.encode(), _line(text, "name:"), "python/object/apply"
    if name == "not UTF-8":
        latin1 = "description: Paramètres de l'école; ".encode("latin-1")  # the rest stays UTF-8
        return BASE.encode().replace(b"description: ", latin1), 0, "not UTF-8"
    raise ValueError(name)


PLAYBOOK_CASES = ["invalid YAML", "wrong type", "unknown key", "shell metacharacters in a value",
                  "python object tag", "not UTF-8"]


@pytest.mark.parametrize("name", PLAYBOOK_CASES)
def test_bad_playbook_is_one_clear_line(tmp_path, runs_dir, name, fault_matrix):
    marker = tmp_path / "pwned"
    data, line, expect = _playbook_case(name, marker)
    playbook = tmp_path / "bad.yml"
    playbook.write_bytes(data)
    inventory = tmp_path / "inventory.yml"  # a host that need not exist: nothing may connect to it
    inventory.write_text(textwrap.dedent("""\
        all:
          hosts:
            lab1: {ansible_host: 10.77.0.10}
        """))
    rc, _, err = invoke("remediate", "--host", "lab1", "--yes", "--inventory", str(inventory), "--playbook",
                        str(playbook), runs_dir=runs_dir, check_json=False)
    assert rc == 2, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    where = f"{playbook}:{line}: " if line else f"{playbook}"
    assert err.strip().startswith(f"error: {where}") and expect in err, err
    assert not marker.exists() and not os.path.lexists(runs_dir)  # nothing ran, no run was recorded
    fault_matrix.add_input(f"playbook: {name}", rejected=True)
