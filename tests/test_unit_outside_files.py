"""Files outside the app directory the process really reads (#23, item 3): settings on PYTHONPATH
(named by the app's own settings import) are read and may be written under remediation_app_dir,
as a gunicorn config the command line names; any other file outside it is still refused."""
from __future__ import annotations

from types import SimpleNamespace

from remediation.facts.gather import Gathered, loaded_settings
from remediation.model import AppView, GunicornMaster, HostFacts, RestartMethod
from remediation.plan.expectations import mismatches


def inspection(patched: list[str], loaded: list[str]):
    method = RestartMethod("supervisor", program="shop", config_files=["/etc/supervisor/supervisord.conf"])
    master = GunicornMaster(7, ["/srv/shop/venv/bin/gunicorn", "-c", "/etc/gunicorn/shop.py", "shop.wsgi"], "shop",
                            1000, "/srv/shop", None, {"PYTHONPATH": "/etc/shop"}, [], method)
    view = AppView(extra={"settings_module": {"module": "shop_settings", "loaded": loaded}})
    gathered = Gathered(HostFacts("web1", [master], {}, "python3"), master, {}, view)
    return SimpleNamespace(gathered=gathered, audit=SimpleNamespace(patched={p.lstrip("/"): "" for p in patched}))


def test_settings_the_app_loaded_from_pythonpath_may_be_written_outside_the_app_dir():
    ins = inspection(["/etc/shop/shop_settings.py", "/etc/gunicorn/shop.py"], ["/etc/shop/shop_settings.py"])
    assert loaded_settings(ins.gathered) == ["/etc/shop/shop_settings.py"]
    assert mismatches({"remediation_app_dir": "/srv/shop"}, ins) == []


def test_a_file_outside_the_app_dir_the_process_does_not_read_is_still_refused():
    ins = inspection(["/etc/shop/shop_settings.py"], [])
    (line,) = mismatches({"remediation_app_dir": "/srv/shop"}, ins)
    assert "/etc/shop/shop_settings.py is outside remediation_app_dir /srv/shop" in line


def test_the_plan_patches_settings_on_pythonpath_where_they_are():
    from remediation.discovery import audit_files
    from remediation.discovery.model import Hints
    from remediation.model import Target

    settings = ("DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop',\n"
                "                         'CONN_HEALTH_CHECKS': True}}\n")
    files = {"etc/shop/shop_settings.py": settings, "srv/shop/shop/__init__.py": "",
             "srv/shop/shop/wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
             "etc/gunicorn/shop.py": "worker_class = 'gthread'\nworkers = 2\nthreads = 8\n"}
    hints = Hints(command="gunicorn -c /etc/gunicorn/shop.py shop.wsgi", cwd="srv/shop", config_path="etc/gunicorn/shop.py",
                  settings_module="shop_settings", env={"DJANGO_SETTINGS_MODULE": "shop_settings", "PYTHONPATH": "/etc/shop"},
                  loaded_settings=("etc/shop/shop_settings.py",))
    result = audit_files(files, Target(), hints)
    assert sorted(result.patched) == ["etc/shop/shop_settings.py"]
    assert "'CONN_MAX_AGE': 600" in result.patched["etc/shop/shop_settings.py"]


def test_a_default_config_file_that_does_not_exist_is_no_config_file():
    """No -c anywhere and no ./gunicorn.conf.py in the working directory (videofront's supervisor
    program, paperless' unit, django-on-docker's compose command: real-file hosts real8, real14,
    real15): gunicorn runs its defaults (sync), so the worker class is known, not "a config file
    that is not in the tree" (which left CONN_MAX_AGE at 0: "it may be gevent"). A default file
    that exists, or one the host could not read, is still the config."""
    from remediation.model import RemoteFile
    from remediation.plan.inspection import hints_for

    def hints(files):
        method = RestartMethod("supervisor", program="gunicorn", config_files=["/etc/supervisor/conf.d/v.conf"])
        master = GunicornMaster(7, ["/srv/venv/bin/gunicorn", "--workers", "12", "v.wsgi:application"], "app",
                                1000, "/srv/app", None, {}, [], method)
        return hints_for(Gathered(HostFacts("web1", [master], {}, "python3"), master, files, AppView()))

    default = "/srv/app/gunicorn.conf.py"
    assert hints({default: RemoteFile(default, None, None, error="missing")}).config_path is None
    assert hints({default: RemoteFile(default, b"workers = 2\n", "x")}).config_path == "srv/app/gunicorn.conf.py"
    assert hints({default: RemoteFile(default, None, None, error="Permission denied")}).config_path == \
        "srv/app/gunicorn.conf.py"


def process(argv: list[str], cwd: str, env: dict[str, str]):
    method = RestartMethod("systemd", program="esdc@gunicorn-api.service")
    return GunicornMaster(98, ["/opt/venv/bin/python3", *argv], "root", 0, cwd, None, env, [], method, args_from=2)


def test_the_import_path_is_the_processs_own():
    """esdc-ce's esdc@.service (real-file host real10): no WorkingDirectory= (the process runs in /),
    the code on PYTHONPATH (with a literal `{PYTHONPATH}` left in by the source); gunicorn's own
    --pythonpath entries go first, the last one leading (each is inserted at sys.path[0])."""
    from remediation.facts.gather import app_module_files, import_roots, settings_candidates

    esdc = process(["/opt/venv/bin/gunicorn", "schoolsite.wsgi:application", "-c", "/srv/app/core/gunicorn-api.py"],
                   "/", {"DJANGO_SETTINGS_MODULE": "schoolsite.settings", "PYTHONPATH": "{PYTHONPATH}:/srv/app"})
    assert import_roots(esdc) == ["/", "/{PYTHONPATH}", "/srv/app"]
    assert app_module_files(esdc) == ["/schoolsite/wsgi.py", "/{PYTHONPATH}/schoolsite/wsgi.py",
                                      "/srv/app/schoolsite/wsgi.py"]
    assert settings_candidates(esdc)[-1] == ["/srv/app/schoolsite", "/srv/app/schoolsite/settings"]
    netbox = process(["/opt/venv/bin/gunicorn", "--pythonpath", "/opt/netbox/netbox,extra", "netbox.wsgi"],
                     "/opt/netbox", {"PYTHONPATH": ":lib"})
    assert import_roots(netbox) == ["/opt/netbox/extra", "/opt/netbox/netbox", "/opt/netbox", "/opt/netbox/lib"]
    via_env = process(["/opt/venv/bin/gunicorn", "netbox.wsgi"], "/srv",
                      {"GUNICORN_CMD_ARGS": "--pythonpath=/opt/netbox/netbox"})
    assert import_roots(via_env) == ["/opt/netbox/netbox", "/srv"]


def test_the_settings_are_where_python_finds_them_first():
    """The first import root whose directory holds the module is the one Python imports (a stale
    copy further down the path is not); none: the working directory's, as before."""
    from remediation.facts.gather import first_listed, settings_candidates

    esdc = process(["/opt/venv/bin/gunicorn", "schoolsite.wsgi"], "/",
                   {"DJANGO_SETTINGS_MODULE": "schoolsite.settings", "PYTHONPATH": "/srv/app:/srv/old"})
    candidates = settings_candidates(esdc)
    listings = {"/schoolsite": {"error": "No such file or directory"},
                "/srv/app/schoolsite": ["__init__.py", "settings.py", "wsgi.py"],
                "/srv/old/schoolsite": ["__init__.py", "settings.py"]}
    assert first_listed(esdc, candidates, listings) == ["/srv/app/schoolsite", "/srv/app/schoolsite/settings"]
    package = {"/srv/old/schoolsite": ["__init__.py", "settings"]}
    assert first_listed(esdc, candidates, package)[0] == "/srv/old/schoolsite"
    assert first_listed(esdc, candidates, {})[0] == "/schoolsite"
