"""A systemd unit is its unit file plus its drop-ins, merged as systemd merges them (no lab)."""
from __future__ import annotations

import shlex

import pytest

from remediation.discovery.classify import kind_of
from remediation.discovery.model import Hints
from remediation.discovery.orchestrator import plan, restarted
from remediation.discovery.sources.systemd import load_order, locate_unit, unit_of
from remediation.discovery.tree import Tree
from remediation.model import Target

from lab import variety, variety_hosts

UNIT = """\
[Unit]
Description=app
[Service]
User=app
WorkingDirectory=/srv/app
Environment=DJANGO_SETTINGS_MODULE=site.base
Environment="GUNICORN_CMD_ARGS=--threads 4"
ExecStart=/srv/venv/bin/gunicorn \\
    --workers 3 \\
    --bind unix:/run/app.sock \\
    app.wsgi:application
"""
OVERRIDE = """\
[Service]
Environment=DJANGO_SETTINGS_MODULE=site.production
ExecStart=
ExecStart=/srv/venv/bin/gunicorn -k gevent -w 2 app.wsgi:application
"""
ETC = "/etc/systemd/system"


def test_units_and_drop_ins_are_named_by_their_unit():
    assert unit_of(f"{ETC}/app.service") == ("app.service", False)
    assert unit_of(f"{ETC}/app.service.d/override.conf") == ("app.service", True)
    assert unit_of("/lib/systemd/system/app.service") == ("app.service", False)
    assert unit_of("deploy/app.service") == ("deploy/app.service", False)  # a checkout: its dir too
    assert unit_of("deploy/app.service.d/env.conf") == ("deploy/app.service", True)
    assert unit_of(f"{ETC}/app.socket") is None
    assert kind_of(f"{ETC}/app.service.d/override.conf", "[Service]\n") == "systemd"
    assert kind_of("/etc/nginx/conf.d/app.conf", "server {}") is None


def test_load_order_is_the_first_unit_file_then_drop_ins_by_name():
    paths = ["/lib/systemd/system/app.service", f"{ETC}/app.service", f"{ETC}/app.service.d/20-env.conf",
             "/lib/systemd/system/app.service.d/10-base.conf", "/lib/systemd/system/app.service.d/20-env.conf",
             f"{ETC}/app.service.d/override.conf"]
    assert load_order(paths) == {"app.service": [
        f"{ETC}/app.service", "/lib/systemd/system/app.service.d/10-base.conf", f"{ETC}/app.service.d/20-env.conf",
        f"{ETC}/app.service.d/override.conf"]}


def test_the_drop_in_command_wins_and_gets_the_unit_files_environment():
    found = locate_unit([(f"{ETC}/app.service", UNIT), (f"{ETC}/app.service.d/override.conf", OVERRIDE)],
                        "app.service")
    [inv] = found.invocations
    assert inv.file.endswith("override.conf") and inv.unit == "app.service" and inv.cwd == "/srv/app"
    assert "-k" in inv.args.occurrences or any(w.value == "gevent" for w in inv.args.words)
    env = {e.name: (e.file, e.text) for e in found.env}
    assert env["DJANGO_SETTINGS_MODULE"] == (f"{ETC}/app.service.d/override.conf", "site.production")
    assert env["GUNICORN_CMD_ARGS"] == (f"{ETC}/app.service", "--threads 4")
    assert all(e.unit == "app.service" for e in found.env)


def test_an_empty_environment_resets_and_a_lone_reset_leaves_no_command():
    reset = "[Service]\nEnvironment=\nExecStart=\n"
    found = locate_unit([(f"{ETC}/app.service", UNIT), (f"{ETC}/app.service.d/x.conf", reset)], "app.service")
    assert found.invocations == [] and found.env == []


def test_a_tree_reads_the_unit_with_its_drop_in_once():
    tree = Tree({f"{ETC}/app.service": UNIT, f"{ETC}/app.service.d/override.conf": OVERRIDE})
    assert [i.file for i in tree.located.invocations] == [f"{ETC}/app.service.d/override.conf"]


def test_the_varied_labs_covering_set_has_both_kinds_of_systemd_host():
    units = [s for s in variety.covering() if s.restart == "systemd"]
    assert {s.manager for s in units} == {"systemd", "systemd-dropin"}
    assert all(s.gunicorn_home != "image" and not variety.violations(s.draw) for s in units)


@pytest.mark.parametrize("spec", [s for s in variety.covering() if s.restart == "systemd"], ids=lambda s: s.manager)
def test_the_lab_units_run_the_command_the_lab_means(spec):
    files = {f"{ETC}/{rel}": text for rel, text in variety_hosts.unit_files(spec).items()}
    tree = Tree(files)
    [inv] = tree.located.invocations
    line = tree.texts[inv.file][inv.offset:].replace("\\\n", " ").split("\n")[0]  # from gunicorn on
    words = shlex.split(line)
    assert variety_hosts.command(spec)[-len(words):] == words and words[0].endswith("gunicorn")
    assert inv.file.endswith("override.conf") == (spec.manager == "systemd-dropin")


def test_a_patched_environment_is_the_restarted_processs_not_the_live_one():
    """Seen on a lab host: GUNICORN_CMD_ARGS patched in a drop-in, and the re-audit still took the
    live process's value (so the patch was refused as not reaching the target)."""
    dropin = f"{ETC}/app.service.d/override.conf"
    before = {f"{ETC}/app.service": UNIT,
              dropin: '[Service]\nEnvironment="GUNICORN_CMD_ARGS=--worker-class gevent"\n'}
    after = {**before, dropin: before[dropin].replace("gevent", "gthread")}
    live = Hints(command="/srv/venv/bin/gunicorn --workers 3 --bind unix:/run/app.sock app.wsgi:application",
                 env={"GUNICORN_CMD_ARGS": "--worker-class gevent"})
    before_tree, _proposals, built = plan(before, Target(), live)
    view = restarted(before_tree, built, Tree(after), {dropin: after[dropin]}, live)
    assert view.hints.env["GUNICORN_CMD_ARGS"] == "--worker-class gthread"
    assert view.env == {"GUNICORN_CMD_ARGS": "--worker-class gthread"}


# -- a template unit's instance, as systemd itself loads it (`systemctl show`) ----------------------

TEMPLATE = """[Unit]
Description=gunicorn %i
[Service]
User=app
WorkingDirectory=/srv/%i
EnvironmentFile=-/etc/default/gunicorn-%i
ExecStart=/srv/%i/venv/bin/gunicorn --config /etc/gunicorn/%i.conf.py project.wsgi:application
"""
TEMPLATE_TREE = {
    "etc/systemd/system/gunicorn@.service": TEMPLATE,
    "etc/default/gunicorn-shop": "GUNICORN_CMD_ARGS=--worker-class gevent --workers 2\n",
    "etc/gunicorn/shop.conf.py": "bind = '0.0.0.0:8000'\nthreads = 16\n",
    "srv/shop/project/__init__.py": "",
    "srv/shop/project/settings.py": "import environ\nenv = environ.Env()\nSECRET_KEY = 'x'\n"
                                    "DATABASES = {'default': env.db()}\n",  # django-environ: no CONN_MAX_AGE
}


def _template_hints(with_unit: bool) -> Hints:
    from remediation.discovery.model import SystemdUnit
    from remediation.discovery.sources.systemd import unit_specifiers

    unit = SystemdUnit("gunicorn@shop.service", ("etc/systemd/system/gunicorn@.service",),
                       tuple(sorted(unit_specifiers("gunicorn@shop.service").items()))) if with_unit else None
    return Hints(command="/srv/shop/venv/bin/python /srv/shop/venv/bin/gunicorn --config /etc/gunicorn/shop.conf.py "
                         "project.wsgi:application", cwd="srv/shop", config_path="etc/gunicorn/shop.conf.py",
                 settings_module="project.settings", env={"GUNICORN_CMD_ARGS": "--worker-class gevent --workers 2"},
                 env_names=frozenset({"GUNICORN_CMD_ARGS", "PATH"}), systemd_unit=unit)


def test_a_template_instance_is_read_as_systemd_loads_it():
    """gunicorn@shop.service from gunicorn@.service: %i expanded, its EnvironmentFile= patched where it
    sets GUNICORN_CMD_ARGS, the config outside the app dir patched (without systemd's answer: nothing)."""
    from remediation.discovery import audit_files

    target = Target()
    blind = audit_files(TEMPLATE_TREE, target, _template_hints(False))
    assert "etc/default/gunicorn-shop" not in blind.patched
    seen = audit_files(TEMPLATE_TREE, target, _template_hints(True))
    assert seen.patched["etc/default/gunicorn-shop"] == "GUNICORN_CMD_ARGS=--worker-class gthread --workers 2\n"
    assert "threads = 8" in seen.patched["etc/gunicorn/shop.conf.py"]
    assert "etc/systemd/system/gunicorn@.service" not in seen.patched  # a %i word is never rewritten
    # env.db() leaves CONN_MAX_AGE to Django's default 0: set on the dict like any other
    assert 'DATABASES["default"]["CONN_MAX_AGE"] = 600' in seen.patched["srv/shop/project/settings.py"]


def test_specifiers_of_an_instance():
    from remediation.discovery.sources.systemd import unit_specifiers, unescape

    specs = unit_specifiers("gunicorn@srv-shop.service", "web1")
    assert (specs["i"], specs["I"], specs["p"], specs["n"], specs["N"], specs["H"]) == (
        "srv-shop", "srv/shop", "gunicorn", "gunicorn@srv-shop.service", "gunicorn@srv-shop", "web1")
    assert unescape("a\\x2db") == "a-b"
