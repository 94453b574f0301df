"""Unit tests: audit_path (reading, atomic writes), the invoke task, the JSON report, the API."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from invoke import Context, Exit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.audit import audit_path  # noqa: E402
from remediation.cli.audit import audit  # noqa: E402
from remediation.discovery import AuditResult, Finding, Hints, audit_files  # noqa: E402
from remediation.model import Target  # noqa: E402

CONFIG = 'worker_class = "gevent"  # keep this comment\nworkers = 2\nthreads = 16\n'
# Settings that already keep connections: a worker switch lands only with a persistent
# CONN_MAX_AGE (the two halves of the fix go together).
SETTINGS = 'DATABASES = {"default": {"NAME": "app", "CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": True}}\n'
APP = {"gunicorn.conf.py": CONFIG, "app/settings.py": SETTINGS}


def make_tree(root: Path) -> None:
    (root / "gunicorn.conf.py").write_text(CONFIG)
    (root / "Procfile").write_text("web: gunicorn -c gunicorn.conf.py app.wsgi\n")
    os.chmod(root / "gunicorn.conf.py", 0o640)
    (root / "app").mkdir()
    (root / "app" / "settings.py").write_text(SETTINGS)


def test_audit_path_dry_run_changes_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = audit_path(tmp_path, Target())
    assert "gunicorn.conf.py" in result.patched
    assert (tmp_path / "gunicorn.conf.py").read_text() == CONFIG


def test_audit_path_write_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = audit_path(tmp_path, Target(), write=True)
    written = (tmp_path / "gunicorn.conf.py").read_text()
    assert written == result.patched["gunicorn.conf.py"]
    assert 'worker_class = "gthread"  # keep this comment' in written
    assert stat.S_IMODE((tmp_path / "gunicorn.conf.py").stat().st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    again = audit_path(tmp_path, Target())
    assert not again.patched


def test_audit_path_skips_vcs_venvs_and_reports_odd_files(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "gunicorn.conf.py").write_text(CONFIG)
    venv = tmp_path / "env"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr\n")
    (venv / "gunicorn.conf.py").write_text(CONFIG)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "big.yml").write_text("x: 1\n" * 300_000)
    (tmp_path / "gunicorn_bad.py").write_bytes(b"\xff\xfeworkers = 2\n")
    outside = tmp_path.parent / "outside.conf.py"
    outside.write_text(CONFIG)
    (tmp_path / "gunicorn_link.py").symlink_to(outside)
    result = audit_path(tmp_path, Target())
    files = {f.file for f in result.findings}
    assert not any(f.startswith((".git/", "env/")) for f in files)
    reasons = {f.file: f.reason for f in result.findings if f.action == "report"}
    assert "larger than 1 MB" in reasons["big.yml"]
    assert "not UTF-8" in reasons["gunicorn_bad.py"]
    assert "outside the tree" in reasons["gunicorn_link.py"]


def test_audit_files_accepts_bytes_and_never_raises_on_binary() -> None:
    files = {"gunicorn.conf.py": b"\x00\x01binary", "Procfile": "web: gunicorn -c gunicorn.conf.py app\n"}
    result = audit_files(files, Target())
    assert any("binary" in f.reason for f in result.findings if f.file == "gunicorn.conf.py")
    assert not result.patched


def test_json_report_shape() -> None:
    result = audit_files(APP, Target())
    report = json.loads(result.to_json("/srv/app"))
    assert set(report) == {"path", "findings", "diff", "skipped"}
    assert report["path"] == "/srv/app"
    for finding in report["findings"]:
        assert set(finding) == {"file", "line", "setting", "current", "proposed", "action", "reason"}
        assert finding["line"] is None or isinstance(finding["line"], int)
    assert report["diff"].startswith("--- a/gunicorn.conf.py")


def test_hint_environment_values_stay_private() -> None:
    hints = Hints(command="gunicorn -c gunicorn.conf.py app", env={
        "SECRET_KEY": "s3cr3t", "DATABASE_URL": "postgres://u:pw@h/db", "WEB_CONCURRENCY": "3"})
    settings = 'import os\nDATABASES = {"default": {"NAME": os.environ["DATABASE_URL"]}}\n'
    result = audit_files({"gunicorn.conf.py": CONFIG, "settings.py": settings}, Target(), hints)
    text = result.to_json(".")
    assert "s3cr3t" not in text and "pw@h" not in text
    live = [f for f in result.findings if f.file == "<process environment>"]
    assert live and live[0].setting == "workers" and live[0].current == "3"  # gunicorn-relevant
    assert "dead" in live[0].reason  # workers = 2 in the config file beats WEB_CONCURRENCY


def test_live_command_that_no_file_produces_is_reported() -> None:
    hints = Hints(command="/usr/bin/python3 /venv/bin/gunicorn -k gevent -w 4 app.wsgi")
    result = audit_files({"Procfile": "web: gunicorn -k sync app.wsgi\n"}, Target(), hints)
    live = [f for f in result.findings if f.file == "<live command>"]
    assert any(f.setting == "worker_class" and f.action == "report" for f in live)
    assert not result.patched


def test_playbook_target_comes_from_the_remediate_loader(tmp_path: Path) -> None:
    """audit reads a playbook with remediate's loader: the same keys, types and checks."""
    (tmp_path / "tree").mkdir()
    make_tree(tmp_path / "tree")
    sync = ROOT / "playbooks" / "gevent-to-sync.yml"
    report = tmp_path / "report.json"
    audit(Context(), path=str(tmp_path / "tree"), json=str(report), playbook=str(sync))
    proposed = {f["setting"]: f["proposed"] for f in json.loads(report.read_text())["findings"] if f["proposed"]}
    assert proposed.get("worker_class") in ("sync", "'sync'", '"sync"'), proposed
    bad = tmp_path / "play.yml"
    for text, named in ((sync.read_text().replace("worker_class:", "worker_klass:"), "worker_klass"),
                        (sync.read_text().replace("workers: 4", "workers: four"), "workers"),
                        (sync.read_text() + "verfy: {}\n", "verfy")):
        bad.write_text(text)
        with pytest.raises(Exit) as info:
            audit(Context(), path=str(tmp_path / "tree"), playbook=str(bad))
        assert info.value.code == 2 and named in str(info.value.message)


def test_task_json_to_stdout_only(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path)
    audit(Context(), path=str(tmp_path), json="-")
    out = capsys.readouterr().out
    assert json.loads(out)["path"] == str(tmp_path)


def test_task_human_output_and_json_file(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path)
    report = tmp_path / "report.json"
    audit(Context(), path=str(tmp_path), json=str(report))
    assert json.loads(report.read_text())["findings"]
    out = capsys.readouterr().out
    assert "gunicorn.conf.py" in out and "dry run" in out


def test_task_missing_directory_is_a_clean_exit(tmp_path: Path) -> None:
    with pytest.raises(Exit) as info:
        audit(Context(), path=str(tmp_path / "nope"))
    assert info.value.code == 2


def test_result_types() -> None:
    result = audit_files({}, Target())
    assert isinstance(result, AuditResult) and result.findings == [] and result.diff == ""
    assert Finding("a", None, "workers", None, None, "ok", "r").key()


def test_hints_choose_the_config_and_the_settings_module() -> None:
    files = {
        "srv/app/conf/live.py": 'worker_class = "gevent"\nthreads = 4\n',
        "srv/app/conf/old.py": 'worker_class = "gevent"\n',
        "srv/app/proj/settings/prod.py": 'DATABASES = {"default": {"NAME": "p"}}\n',
        "srv/app/proj/settings/dev.py": 'DATABASES = {"default": {"NAME": "d"}}\n',
    }
    hints = Hints(command="gunicorn -c conf/live.py proj.wsgi", cwd="srv/app",
                  config_path="srv/app/conf/live.py", settings_module="proj.settings.prod")
    result = audit_files(files, Target(), hints)
    assert set(result.patched) == {"srv/app/conf/live.py", "srv/app/proj/settings/prod.py"}
    dev = [f for f in result.findings if f.file == "srv/app/proj/settings/dev.py"]
    assert dev and all(f.action == "report" for f in dev)


def test_live_command_that_is_not_gunicorn() -> None:
    result = audit_files({"Procfile": "web: gunicorn -k gevent app\n"}, Target(),
                         Hints(command="uvicorn app:app --workers 4"))
    assert not result.patched
    assert any(f.file == "<live command>" and "not gunicorn" in f.reason for f in result.findings)


def test_a_patch_that_does_not_validate_becomes_a_report(monkeypatch) -> None:
    from remediation.discovery import orchestrator

    real = orchestrator.validate.check
    monkeypatch.setattr(orchestrator.validate, "check",
                        lambda path, kind, text, **kw: "SyntaxError: injected" if path == "gunicorn.conf.py"
                        else real(path, kind, text, **kw))
    result = audit_files(APP, Target())
    assert not result.patched and not result.diff
    patched_before = [f for f in result.findings if "does not parse" in f.reason]
    assert patched_before and all(f.action == "report" for f in patched_before)


def test_a_patch_that_does_not_verify_is_reverted(monkeypatch) -> None:
    from remediation.discovery import orchestrator

    monkeypatch.setattr(orchestrator, "verify", lambda *a, **k: ({"gunicorn.conf.py"}, None))
    result = audit_files(APP, Target())
    assert not result.patched
    assert any("did not show the target values" in f.reason for f in result.findings)


def test_no_half_patch_when_a_related_file_fails(monkeypatch) -> None:
    from remediation.discovery import orchestrator

    real = orchestrator.validate.check
    monkeypatch.setattr(orchestrator.validate, "check",
                        lambda path, kind, text, **kw: "SyntaxError: injected" if path == "gunicorn.conf.py"
                        else real(path, kind, text, **kw))
    files = {"gunicorn.conf.py": "bind = ':8000'\nthreads = 1\n",
             "web.conf": "[program:web]\ncommand=gunicorn -c gunicorn.conf.py -k gevent app\n",
             "app/settings.py": SETTINGS}
    result = audit_files(files, Target())
    # threads are fixed in gunicorn.conf.py; without that the class switch must not land either.
    assert "web.conf" not in result.patched
    switch = next(f for f in result.findings if f.file == "web.conf" and f.setting == "worker_class")
    assert switch.action == "report" and "related change in gunicorn.conf.py" in switch.reason


# The live process's variable names (never values): a default in the code runs only when its
# variable is not among them. Models settings that read CONN_MAX_AGE and the worker class from
# the environment with a default, as many projects do (int(os.environ.get("DB_CONN_MAX_AGE", 0))).
ENV_SETTINGS = ('import os\nDATABASES = {"default": {"NAME": "app", '
                '"CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", 0)), "CONN_HEALTH_CHECKS": True}}\n')
ENV_CONFIG = 'import os\nworker_class = os.environ.get("APP_WORKER_CLASS", "gevent")\nworkers = 2\nthreads = 8\n'


def _env_audit(names, files=None):
    hints = Hints(command="gunicorn -c gunicorn.conf.py app.wsgi", env={}, env_names=names)
    return audit_files(files or {"gunicorn.conf.py": ENV_CONFIG, "app/settings.py": ENV_SETTINGS}, Target(), hints)


def _by_setting(result, setting):
    return [f for f in result.findings if f.setting == setting]


def test_a_default_whose_variable_is_unset_live_is_patched() -> None:
    result = _env_audit(frozenset({"PATH", "HOME"}))
    assert any(f.action == "patch" and f.proposed == "600" for f in _by_setting(result, "CONN_MAX_AGE"))
    assert any(f.action == "patch" for f in _by_setting(result, "worker_class"))


def test_a_default_whose_variable_is_set_live_is_not_patched() -> None:
    """The variable wins over the default: patching the default would change nothing, and no file
    sets the variable, so both are reported, with the name only (the value was never read)."""
    result = _env_audit(frozenset({"PATH", "DB_CONN_MAX_AGE", "APP_WORKER_CLASS"}))
    conn = _by_setting(result, "CONN_MAX_AGE")
    assert conn and not any(f.action == "patch" for f in conn)
    assert any(f.action == "report" and "live environment sets $DB_CONN_MAX_AGE" in f.reason for f in conn)
    worker = _by_setting(result, "worker_class")
    assert not any(f.action == "patch" and f.file == "gunicorn.conf.py" for f in worker), worker
    assert not result.patched or "gunicorn.conf.py" not in result.patched


def test_a_variable_set_live_and_in_a_file_is_patched_in_that_file() -> None:
    """Names say the variable is set; an env file in the tree says where: that file is the fix."""
    files = {"gunicorn.conf.py": ENV_CONFIG, "app/settings.py": ENV_SETTINGS,
             "deploy/app.env": "DB_CONN_MAX_AGE=0\nAPP_WORKER_CLASS=gevent\n"}
    result = _env_audit(frozenset({"DB_CONN_MAX_AGE", "APP_WORKER_CLASS"}), files)
    conn = _by_setting(result, "CONN_MAX_AGE")
    assert any(f.file == "deploy/app.env" and f.action in ("patch", "report") for f in conn), conn
    assert not any(f.file == "app/settings.py" and f.action == "patch" for f in conn), conn


def test_without_names_the_default_is_still_the_plan() -> None:
    """An older agent or an unreadable environ: nothing known, today's behaviour."""
    result = _env_audit(None)
    assert any(f.action == "patch" and f.proposed == "600" for f in _by_setting(result, "CONN_MAX_AGE"))
