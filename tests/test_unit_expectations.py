"""The inventory's statement of a host against what the tool found there (pure)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from remediation.errors import InputError
from remediation.config.hostvars import check_path_vars
from remediation.plan.expectations import mismatches
from remediation.model import RestartMethod


def inspection(cwd="/srv/app", patched=("srv/app/gunicorn.conf.py",), method=None, files=None, code_root=None):
    method = method or RestartMethod("supervisor", program="schoolsite",
                                     config_files=["/etc/supervisor/supervisord.conf"])
    master = SimpleNamespace(pid=42, cwd=cwd, restart=method, host_path=lambda p: p, gunicorn_argv=["gunicorn"], env={})
    files = files or {}
    return SimpleNamespace(gathered=SimpleNamespace(master=master, files=files, introspection=SimpleNamespace(extra={}),
                                                    code_root=code_root),
                           audit=SimpleNamespace(patched={p: "" for p in patched}))


@pytest.mark.parametrize("value", ["../../etc/passwd", "srv/app", "/srv/../etc", "/srv/app/./x", "/srv/app\n; rm -rf /",
                                   7, ["/srv/app"]])
def test_bad_path_vars_are_input_errors(value):
    with pytest.raises(InputError) as err:
        check_path_vars("web1", {"remediation_app_dir": value}, "inventory/prod.yml")
    assert "remediation_app_dir" in str(err.value) and "web1" in str(err.value)
    assert "inventory/prod.yml" in str(err.value)


def test_good_path_vars_pass():
    check_path_vars("web1", {"remediation_app_dir": "/srv/app", "remediation_compose_file": "/srv/app/compose.yml"}, "x")


def test_no_statement_no_mismatch():
    assert mismatches({}, inspection()) == []


def test_matching_statement():
    assert mismatches({"remediation_app_dir": "/srv/app", "remediation_supervisor_program": "schoolsite"},
                      inspection(patched=("srv/app/gunicorn.conf.py", "etc/supervisor/conf.d/app.conf"))) == []


def test_file_outside_app_dir_is_refused():
    lines = mismatches({"remediation_app_dir": "/srv/app"}, inspection(patched=("etc/passwd",)))
    assert lines == ["/etc/passwd is outside remediation_app_dir /srv/app: not written"]


def test_symlink_out_of_app_dir_is_refused():
    files = {"/srv/app/settings.py": SimpleNamespace(realpath="/etc/shared/settings.py")}
    lines = mismatches({"remediation_app_dir": "/srv/app"}, inspection(patched=("srv/app/settings.py",), files=files))
    assert lines and "outside remediation_app_dir" in lines[0]


def test_prefix_is_not_containment():
    lines = mismatches({"remediation_app_dir": "/srv/app"}, inspection(cwd="/srv/app2", patched=("srv/app2/g.py",)))
    assert len(lines) == 2 and "runs in /srv/app2" in lines[0]


def test_wrong_program_and_manager():
    assert "program 'schoolsite'" in mismatches({"remediation_supervisor_program": "billing"}, inspection())[0]
    compose = RestartMethod("docker-compose", program="web", config_files=["/srv/app/docker-compose.yml"])
    lines = mismatches({"remediation_compose_service": "worker", "remediation_compose_file": "/opt/other.yml"},
                       inspection(method=compose))
    assert len(lines) == 2
    assert mismatches({"remediation_supervisor_program": "schoolsite"}, inspection(method=compose)) == [
        "gunicorn is managed by docker-compose, not what the inventory says"]


def test_the_config_the_live_process_names_is_written_wherever_it_is():
    """`gunicorn -c /etc/gunicorn/shop.conf.py`: the process reads it, so it is the host's tree."""
    ins = inspection(patched=("etc/gunicorn/shop.conf.py", "etc/gunicorn/other.conf.py"))
    ins.gathered.master.gunicorn_argv = ["gunicorn", "-c", "/etc/gunicorn/shop.conf.py", "app.wsgi"]
    out = mismatches({"remediation_app_dir": "/srv/app"}, ins)
    assert out == ["/etc/gunicorn/other.conf.py is outside remediation_app_dir /srv/app: not written"]


def test_a_process_in_root_whose_app_is_imported_from_the_app_dir_is_that_app():
    """esdc-ce's unit (real-file host real10) has no WorkingDirectory=: gunicorn runs in / and
    imports its WSGI module from /srv/app on PYTHONPATH. The app dir is where its code is."""
    assert mismatches({"remediation_app_dir": "/srv/app"}, inspection(cwd="/", code_root="/srv/app")) == []
    (line,) = mismatches({"remediation_app_dir": "/srv/app"}, inspection(cwd="/", code_root="/opt/other"))
    assert "runs in / with its app from /opt/other, not under remediation_app_dir /srv/app" in line
    (line,) = mismatches({"remediation_app_dir": "/srv/app"}, inspection(cwd="/"))
    assert line.startswith("gunicorn (pid 42) runs in /, not under remediation_app_dir /srv/app")
