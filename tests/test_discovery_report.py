"""The audit's human output at 80 columns, --check, --format sarif and the pre-commit hook."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from invoke import Context, Exit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediation.cli.audit import audit  # noqa: E402
from remediation.discovery import audit_files  # noqa: E402
from remediation.discovery.report import render_text, sarif, should_fail  # noqa: E402
from remediation.model import Target  # noqa: E402

LONG = "x" * 30
FILES = {
    "gunicorn.conf.py": f'worker_class = "gevent"  # {LONG} {LONG} {LONG}\nworkers = 2\n',
    "app/settings.py": 'DATABASES = {"default": {"NAME": "x"}}\n',
}


def test_text_is_readable_at_80_columns_and_the_diff_is_not_wrapped() -> None:
    result = audit_files(FILES, Target())
    out = render_text(result, "/src", wrote=False, width=80)
    diff_lines = set(result.diff.splitlines())
    for line in out.splitlines():
        if line in diff_lines:
            continue  # the diff is printed as is
        words = line.split()
        assert len(line) <= 80 or len(words) == 1, line
    assert result.diff.rstrip("\n") in out  # every diff line intact, in order
    assert "PATCH  worker_class  gunicorn.conf.py:1" in out


def test_sarif_has_one_result_per_patch_or_refusal() -> None:
    result = audit_files(FILES, Target())
    doc = sarif(result, "/src")
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert len(results) == sum(1 for f in result.findings if f.action != "ok")
    first = results[0]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert {r["ruleId"] for r in results} <= {rule["id"] for rule in doc["runs"][0]["tool"]["driver"]["rules"]}


def test_check_fails_when_it_would_patch_or_on_half_a_fix(tmp_path: Path, capsys) -> None:
    (tmp_path / "gunicorn.conf.py").write_text('worker_class = "gevent"\n')
    with pytest.raises(Exit) as info:
        audit(Context(), path=str(tmp_path), check=True)
    assert info.value.code == 1
    assert "half a fix" in capsys.readouterr().out
    (tmp_path / "gunicorn.conf.py").write_text('worker_class = "sync"\n')
    audit(Context(), path=str(tmp_path), check=True)  # nothing to patch: exit 0


def test_check_passes_after_write(tmp_path: Path) -> None:
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert should_fail(audit_files(FILES, Target()))
    audit(Context(), path=str(tmp_path), write=True)
    audit(Context(), path=str(tmp_path), check=True)


def test_format_sarif_on_stdout(tmp_path: Path, capsys) -> None:
    (tmp_path / "gunicorn.conf.py").write_text('worker_class = "gevent"\n')
    audit(Context(), path=str(tmp_path), format="sarif")
    assert json.loads(capsys.readouterr().out)["version"] == "2.1.0"


def test_binary_files_are_counted_in_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "docker").mkdir()
    for i in range(5):
        (tmp_path / "docker" / f"logo{i}.png").write_bytes(b"\x89PNG\x00\xff")
    audit(Context(), path=str(tmp_path))
    out = capsys.readouterr().out
    assert "skipped data files: 5 binary" in out and "logo" not in out


def test_pre_commit_hook_runs_the_check() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = hooks[0]
    assert "--check" in hook["entry"] and hook["pass_filenames"] is False
