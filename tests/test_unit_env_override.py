"""The manager's own override (#23, item 2): a variable the process reads for a setting, set in its
live environment by nothing the host holds, is given its target value in the manager's own
environment (a compose service's `environment:`, a supervisor program's `environment=`) instead of
"report and give up". Fixtures written here, each naming what it models."""
from __future__ import annotations

from remediation.discovery import audit_files
from remediation.discovery.env_override import CREATED_HEADER, new_dropin, override_edit
from remediation.discovery.model import EnvOverride, Hints, SystemdUnit, apply_edits
from remediation.model import Target

# settings as django-environ users write them: CONN_MAX_AGE only from the environment
SETTINGS = ("import os\nDATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop',\n"
            "    'CONN_MAX_AGE': int(os.environ.get('CONN_MAX_AGE', 0)), 'CONN_HEALTH_CHECKS': True}}\n")
CONF = "import multiprocessing\nbind = '127.0.0.1:8000'\nworker_class = 'gthread'\nworkers = 2\nthreads = 8\n"
# a supervisor program as Debian's package leaves it: no environment=, no stdout_logfile; the live
# CONN_MAX_AGE comes from supervisord's own environment (its init script's /etc/default file)
PROGRAM = ("[program:shop]\ncommand=/srv/shop/venv/bin/gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi\n"
           "directory=/srv/shop\nuser=shop\nautostart=true\n")


def audit(files: dict, override: EnvOverride | None, command: str, live_names=("CONN_MAX_AGE", "PATH")):
    hints = Hints(command=command, cwd="srv/shop", settings_module="shop.settings",
                  env={"DJANGO_SETTINGS_MODULE": "shop.settings"}, env_names=frozenset(live_names),
                  env_override=override)
    base = {"srv/shop/shop/__init__.py": "", "srv/shop/shop/settings.py": SETTINGS, "srv/shop/gunicorn.conf.py": CONF}
    result = audit_files({**base, **files}, Target(), hints)
    return result, {(f.file, f.setting): f for f in result.findings}


def test_supervisor_program_gets_environment_line_when_nothing_sets_the_variable():
    command = "/srv/shop/venv/bin/gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi"
    files = {"etc/supervisor/conf.d/shop.conf": PROGRAM}
    result, found = audit(files, EnvOverride("supervisor", "shop", ("etc/supervisor/conf.d/shop.conf",)), command)
    finding = found[("etc/supervisor/conf.d/shop.conf", "CONN_MAX_AGE")]
    assert finding.action == "patch" and "manager's own environment" in finding.reason
    assert result.patched["etc/supervisor/conf.d/shop.conf"] == PROGRAM + 'environment=CONN_MAX_AGE="600"\n'
    assert result.restarted_env.get("CONN_MAX_AGE") == "600"  # what check-config gives the app
    assert "srv/shop/shop/settings.py" not in result.patched  # the default would change nothing


def test_without_an_override_place_it_is_reported_as_before():
    command = "/srv/shop/venv/bin/gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi"
    result, found = audit({}, None, command)
    finding = found[("srv/shop/shop/settings.py", "CONN_MAX_AGE")]
    assert finding.action == "report" and "no file the host holds sets it" in finding.reason
    assert not result.patched


def test_a_file_that_sets_the_variable_is_patched_there_not_overridden():
    command = "/srv/shop/venv/bin/gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi"
    program = PROGRAM + 'environment=CONN_MAX_AGE="0",LANG="C.UTF-8"\n'
    result, _found = audit({"etc/supervisor/conf.d/shop.conf": program},
                           EnvOverride("supervisor", "shop", ("etc/supervisor/conf.d/shop.conf",)), command)
    assert result.patched["etc/supervisor/conf.d/shop.conf"] == PROGRAM + 'environment=CONN_MAX_AGE="600",LANG="C.UTF-8"\n'


def test_compose_service_gets_the_variable_in_its_environment():
    command = "gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi"
    compose = ("services:\n  web:\n    image: shop:1.4\n    command: " + command + "\n    environment:\n"
               "      - DJANGO_SETTINGS_MODULE=shop.settings\n    volumes:\n      - .:/srv/shop\n"
               "  db:\n    image: postgres:16\n")
    result, found = audit({"srv/shop/docker-compose.yml": compose},
                          EnvOverride("compose", "web", ("srv/shop/docker-compose.yml",)), command)
    assert found[("srv/shop/docker-compose.yml", "CONN_MAX_AGE")].action == "patch"
    assert "      - DJANGO_SETTINGS_MODULE=shop.settings\n      - CONN_MAX_AGE=600\n    volumes:" in \
        result.patched["srv/shop/docker-compose.yml"]


def test_override_edits_keep_the_files_shape():
    mapping = "services:\n  web:\n    image: x\n    environment:\n      A: \"1\"\n\n  db:\n    image: y\n"
    path, edits = override_edit({"c.yml": mapping}, EnvOverride("compose", "web", ("c.yml",)), "CONN_MAX_AGE", "600")
    assert apply_edits(mapping, edits) == mapping.replace('A: "1"\n', 'A: "1"\n      CONN_MAX_AGE: "600"\n')
    bare = "services:\n  web:\n    image: x\n  db:\n    image: y\n"
    path, edits = override_edit({"c.yml": bare}, EnvOverride("compose", "web", ("c.yml",)), "CONN_MAX_AGE", "600")
    assert apply_edits(bare, edits) == bare.replace("image: x\n", "image: x\n    environment:\n      CONN_MAX_AGE: \"600\"\n")
    flow = "services:\n  web: {image: x, environment: {A: '1'}}\n"
    assert override_edit({"c.yml": flow}, EnvOverride("compose", "web", ("c.yml",)), "X", "1") is None
    grouped = "[program:other]\ncommand=x\n\n[program:shop]\ncommand=y\nenvironment=A=\"1\"\n"
    path, edits = override_edit({"a.conf": "[program:zzz]\n", "b.conf": grouped},
                                EnvOverride("supervisor", "shop", ("a.conf", "b.conf")), "CONN_MAX_AGE", "600")
    assert path == "b.conf" and apply_edits(grouped, edits).endswith('environment=A="1",CONN_MAX_AGE="600"\n')
    assert override_edit({"a.conf": "[program:zzz]\n"}, EnvOverride("supervisor", "shop", ("a.conf",)), "X", "1") is None


UNIT = ("[Unit]\nDescription=gunicorn daemon for %i\nAfter=network.target\n\n[Service]\nUser=shop\n"
        "WorkingDirectory=/srv/shop\nExecStart=/srv/shop/venv/bin/gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi\n"
        "Restart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n")


def systemd_hints(files: tuple[str, ...], unit: str = "gunicorn@shop.service") -> EnvOverride:
    return EnvOverride("systemd", unit, files)


def systemd_audit(files: dict[str, str], unit: str, loaded: tuple[str, ...], live_names=("CONN_MAX_AGE",)):
    """An audit as inspect gives it for a live systemd unit: its files as `systemctl show` lists
    them, plus the drop-in the tool would create (plan/inspection.py)."""
    command = "/srv/shop/venv/bin/gunicorn -c /srv/shop/gunicorn.conf.py shop.wsgi"
    created = new_dropin(unit, loaded)
    hints = Hints(command=command, cwd="srv/shop", settings_module="shop.settings",
                  env={"DJANGO_SETTINGS_MODULE": "shop.settings"}, env_names=frozenset(live_names),
                  systemd_unit=SystemdUnit(unit, loaded + ((created,) if created else ()), (("i", "shop"),)),
                  env_override=EnvOverride("systemd", unit, loaded, create=created))
    base = {"srv/shop/shop/__init__.py": "", "srv/shop/shop/settings.py": SETTINGS, "srv/shop/gunicorn.conf.py": CONF}
    result = audit_files({**base, **files}, Target(), hints)
    return result, {(f.file, f.setting): f for f in result.findings}


DROPIN = "[Service]\nEnvironment=CONN_MAX_AGE=600\n"


def test_a_template_instance_gets_a_dropin_of_its_own_and_the_template_is_left_alone():
    """systemd reads `gunicorn@shop.service.d/` for this instance only (and `gunicorn@.service.d/`
    for every instance): the override goes to the instance's own directory, so gunicorn@blog
    keeps its environment."""
    files = {"etc/systemd/system/gunicorn@.service": UNIT,
             "etc/systemd/system/gunicorn@.service.d/10-env.conf": "[Service]\nEnvironment=LANG=C.UTF-8\n"}
    result, found = systemd_audit(files, "gunicorn@shop.service", tuple(files))
    path = "etc/systemd/system/gunicorn@shop.service.d/50-remediation.conf"
    assert set(result.patched) == {path} and result.created == {path}
    assert result.patched[path] == CREATED_HEADER + DROPIN
    assert found[(path, "CONN_MAX_AGE")].action == "patch"
    assert result.restarted_env.get("CONN_MAX_AGE") == "600"  # the re-audit read it as the unit's, applied last
    assert "+Environment=CONN_MAX_AGE=600" in result.diff


def test_a_vendor_unit_with_nothing_under_etc_gets_a_new_dropin():
    result, _found = systemd_audit({"lib/systemd/system/gunicorn.service": UNIT}, "gunicorn.service",
                                   ("lib/systemd/system/gunicorn.service",))
    assert result.created == {"etc/systemd/system/gunicorn.service.d/50-remediation.conf"}
    assert "lib/systemd/system/gunicorn.service" not in result.patched


def test_a_vendor_units_environment_is_overridden_never_edited():
    """The package's unit sets CONN_MAX_AGE=0: a drop-in's later Environment= wins (the vendor
    file would be overwritten by the next upgrade)."""
    vendor = UNIT.replace("Restart=on-failure\n", "Restart=on-failure\nEnvironment=CONN_MAX_AGE=0\n")
    result, found = systemd_audit({"usr/lib/systemd/system/gunicorn.service": vendor}, "gunicorn.service",
                                  ("usr/lib/systemd/system/gunicorn.service",))
    path = "etc/systemd/system/gunicorn.service.d/50-remediation.conf"
    assert set(result.patched) == {path} and result.patched[path] == CREATED_HEADER + DROPIN
    assert "vendor unit" in found[(path, "CONN_MAX_AGE")].reason
    # without a place of its own (no hint): reported, the vendor file still untouched
    result = audit_files({"usr/lib/systemd/system/gunicorn.service": vendor, "srv/shop/shop/__init__.py": "",
                          "srv/shop/shop/settings.py": SETTINGS, "srv/shop/gunicorn.conf.py": CONF}, Target(),
                         Hints(settings_module="shop.settings"))
    assert "usr/lib/systemd/system/gunicorn.service" not in result.patched
    assert any("vendor unit" in f.reason and f.action == "report" for f in result.findings)


def test_the_instances_own_dropin_under_etc_takes_the_line():
    own = "etc/systemd/system/gunicorn@shop.service.d/override.conf"
    files = {"etc/systemd/system/gunicorn@.service": UNIT, own: "[Service]\nEnvironment=LANG=C.UTF-8\n"}
    result, _found = systemd_audit(files, "gunicorn@shop.service", tuple(files))
    assert set(result.patched) == {own} and not result.created
    assert result.patched[own] == "[Service]\nEnvironment=LANG=C.UTF-8\nEnvironment=CONN_MAX_AGE=600\n"


def test_the_new_dropin_sorts_after_every_dropin_the_unit_loads():
    unit = "gunicorn@shop.service"
    assert new_dropin(unit, ("lib/systemd/system/gunicorn@.service",)) == \
        "etc/systemd/system/gunicorn@shop.service.d/50-remediation.conf"
    assert new_dropin(unit, ("lib/systemd/system/gunicorn@.service",
                             "etc/systemd/system/gunicorn@.service.d/override.conf")) == \
        "etc/systemd/system/gunicorn@shop.service.d/zz-remediation.conf"  # `systemctl edit`'s name sorts later
    assert new_dropin(unit, ("lib/systemd/system/gunicorn@.service", "run/systemd/system/gunicorn@.service.d/zzz.conf")) is None


def test_a_vendor_unit_is_never_edited_for_an_override():
    texts = {"lib/systemd/system/gunicorn.service": UNIT, "etc/systemd/system/gunicorn.service.d/override.conf":
             "[Service]\nEnvironment=LANG=C.UTF-8\n"}
    loaded = ("lib/systemd/system/gunicorn.service", "etc/systemd/system/gunicorn.service.d/override.conf")
    path, edits = override_edit(texts, systemd_hints(loaded, "gunicorn.service"), "CONN_MAX_AGE", "600")
    assert path == "etc/systemd/system/gunicorn.service.d/override.conf"
    assert apply_edits(texts[path], edits) == "[Service]\nEnvironment=LANG=C.UTF-8\nEnvironment=CONN_MAX_AGE=600\n"
    assert override_edit({"lib/systemd/system/gunicorn.service": UNIT},
                         systemd_hints(("lib/systemd/system/gunicorn.service",), "gunicorn.service"),
                         "CONN_MAX_AGE", "600") is None  # no place of its own, and none to create


def test_gunicorn_cmd_args_from_nowhere_is_overridden_on_the_managers_command_line():
    """GUNICORN_CMD_ARGS carries -k gevent from an environment no file on the host sets (the
    value is read: it is one of the agent's few variables): the command line in the manager's own
    file, which wins over the variable, gets the flags; the variable's are reported dead."""
    program = "[program:shop]\ncommand=/srv/shop/venv/bin/gunicorn shop.wsgi -b 127.0.0.1:8000\ndirectory=/srv/shop\n"
    settings = ("DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop',\n"
                "                         'CONN_MAX_AGE': 600, 'CONN_HEALTH_CHECKS': True}}\n")
    files = {"etc/supervisor/conf.d/shop.conf": program, "srv/shop/shop/__init__.py": "",
             "srv/shop/shop/settings.py": settings}
    hints = Hints(command="/srv/shop/venv/bin/gunicorn shop.wsgi -b 127.0.0.1:8000", cwd="srv/shop",
                  settings_module="shop.settings",
                  env={"DJANGO_SETTINGS_MODULE": "shop.settings", "GUNICORN_CMD_ARGS": "-k gevent"},
                  env_names=frozenset({"GUNICORN_CMD_ARGS", "DJANGO_SETTINGS_MODULE"}))
    result = audit_files(files, Target(), hints)
    assert result.patched == {"etc/supervisor/conf.d/shop.conf": program.replace(
        "gunicorn shop.wsgi", "gunicorn --worker-class gthread --threads 8 shop.wsgi")}
    live = [f for f in result.findings if f.file == "<process environment>"]
    assert [(f.setting, f.action) for f in live] == [("worker_class", "ok")] and "command line" in live[0].reason
    # the command line held only in ps (no file writes it): nothing to override on, reported as before
    hint_only = audit_files({k: v for k, v in files.items() if not k.startswith("etc/")}, Target(), hints)
    assert not hint_only.patched
    assert any(f.action == "report" and "no file in the tree sets it" in f.reason for f in hint_only.findings)
