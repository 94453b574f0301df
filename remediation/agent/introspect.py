"""Runs under the app's own interpreter, environment, cwd and user (sent by the agent).

Prints JSON: library versions, gunicorn's effective settings as gunicorn itself loads
them (CLI, GUNICORN_CMD_ARGS, config file, WEB_CONCURRENCY), Django's DATABASES per
alias without credentials, and optionally the database server's connection budget.
argv: [want_db ("0"/"1"), gunicorn argv...], or ["serve" | "serve+view", gunicorn argv...]: a
counter session that keeps one connection per alias and prints the counters as one JSON line
for each line it reads ("serve+view" first prints the view as one line, before its DB connect:
one interpreter and one settings import per host instead of two).

What the app prints while it loads goes to stderr: the agent reads only this script's own lines.
"""
import json
import os
import sys

PROTOCOL = os.fdopen(os.dup(1), "w")  # the agent's channel
os.dup2(2, 1)  # a settings module that prints (C code included) writes to stderr instead
sys.stdout = sys.stderr
MARK = "@@INTROSPECT@@"


PG_COUNTERS = (  # one round trip: through the delay of a remote DB each query costs a full RTT
    "SELECT current_setting('max_connections')::int, "
    "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
    "(SELECT sessions FROM pg_stat_database WHERE datname = current_database())")
MYSQL_COUNTERS = (  # MariaDB: GLOBAL_STATUS and USER_STATISTICS (empty unless userstat=1)
    "SELECT @@max_connections, @@wait_timeout, "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED'), "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CONNECTIONS'), "
    "(SELECT TOTAL_CONNECTIONS FROM information_schema.USER_STATISTICS "
    "WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1))")
one_query_failed = set()  # vendors whose server refused the one-query form (MySQL 8: no GLOBAL_STATUS)


def mysql_counters_stepwise(cur, info):
    """The same counters in three queries, for servers without information_schema.GLOBAL_STATUS."""
    cur.execute("SELECT @@max_connections, @@wait_timeout")
    row = cur.fetchone()
    info["max_connections"], info["wait_timeout"] = int(row[0]), int(row[1])
    cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Connections')")
    status = dict(cur.fetchall())
    info["connections_now"] = int(status.get("Threads_connected", 0))
    info["connections_total"] = int(status.get("Connections", 0))
    info["counter_scope"] = "server"
    try:
        cur.execute("SELECT TOTAL_CONNECTIONS FROM information_schema.USER_STATISTICS "
                    "WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")
        row = cur.fetchone()
        if row is not None:
            info["connections_total"] = int(row[0])
            info["counter_scope"] = "user"
    except Exception:
        pass


def db_server_info(conn, close):
    """The server's connection budget and its cumulative connection counter, through `conn`
    (one query where the server allows it)."""
    info = {"vendor": conn.vendor}
    try:
        with conn.cursor() as cur:
            if conn.vendor == "postgresql":
                cur.execute(PG_COUNTERS)
                row = cur.fetchone()
                info["max_connections"], info["connections_now"], info["connections_total"] = (
                    int(row[0]), int(row[1]), int(row[2]))
                info["counter_scope"] = "database"
            elif conn.vendor == "mysql":
                row = None
                if "mysql" not in one_query_failed:
                    try:
                        cur.execute(MYSQL_COUNTERS)
                        row = cur.fetchone()
                    except Exception:
                        one_query_failed.add("mysql")
                if row is None:
                    mysql_counters_stepwise(cur, info)
                else:
                    info["max_connections"], info["wait_timeout"] = int(row[0]), int(row[1])
                    info["connections_now"], info["connections_total"] = int(row[2] or 0), int(row[3] or 0)
                    info["counter_scope"] = "server"
                    if row[4] is not None:
                        info["connections_total"], info["counter_scope"] = int(row[4]), "user"
    except Exception as exc:
        info["error"] = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        close = True  # a broken connection is not kept
    finally:
        if close:
            conn.close()
    return info


def say(text):
    PROTOCOL.write(text)
    PROTOCOL.flush()


out = {"versions": {}, "gunicorn": None, "databases": {}, "db_server": {}, "errors": []}
serve = sys.argv[1] in ("serve", "serve+view")  # counter session: answer one line per line
view = sys.argv[1] != "serve"  # versions, gunicorn's settings and DATABASES, as one reply
want_db = sys.argv[1] == "1"
gunicorn_argv = sys.argv[2:]

DISTRIBUTIONS = {"MySQLdb": "mysqlclient", "dj_database_url": "dj-database-url", "environ": "django-environ"}
for name in () if not view else ("django", "gunicorn", "gevent", "eventlet", "psycopg", "psycopg2", "MySQLdb",
                              "pymysql", "dj_database_url", "environ"):
    # versions from the installed metadata: importing gevent, psycopg & co. only to read
    # __version__ costs ~0.1 s of CPU per run, and this runs several times per host
    version = None
    try:
        import importlib.util
        from importlib.metadata import version as dist_version

        if importlib.util.find_spec(name) is None:
            continue
        version = dist_version(DISTRIBUTIONS.get(name, name))
    except Exception:
        try:
            module = __import__(name)
        except Exception:
            continue
        version = getattr(module, "__version__", None) or getattr(module, "version_info", None)
    if isinstance(version, tuple):
        version = ".".join(str(part) for part in version[:3])
    out["versions"][name] = str(version) if version is not None else "unknown"

def load_settings_module(cfg, app_uri):
    """Make DJANGO_SETTINGS_MODULE what the app's workers get, the way gunicorn gets there:
    gunicorn's `--env`/raw_env (set over the process environment before the app loads), the
    process environment, else whatever importing the app module sets (Django's own project
    template: `os.environ.setdefault(...)` in wsgi.py), as each gunicorn worker imports it.
    Returns where it came from."""
    import os

    from_env = None
    if cfg is not None:
        for key, value in (cfg.env or {}).items():  # gunicorn sets these over the process environment
            os.environ[key] = value
            if key == "DJANGO_SETTINGS_MODULE":
                from_env = "gunicorn --env (raw_env)"
        if cfg.chdir:
            os.chdir(cfg.chdir)
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
    if from_env:
        return from_env
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return "process environment"
    module = (app_uri or "").split(":", 1)[0]
    if not module:
        return None
    __import__(module)  # what each gunicorn worker does; Django's settings are configured after it
    return "set by importing the app module %s" % module


def django_defaults_filled(databases):
    """DATABASES as Django's own connection handler completes it (CONN_MAX_AGE 0 and, from 4.1,
    CONN_HEALTH_CHECKS False where absent): asked of Django itself, else its documented defaults."""
    import copy

    try:
        from django.db.utils import ConnectionHandler

        return ConnectionHandler(copy.deepcopy(databases)).settings  # Django >= 3.2 fills them in here
    except Exception:
        filled = copy.deepcopy(databases)
        for db in filled.values():
            db.setdefault("CONN_MAX_AGE", 0)
        return filled


cfg, app_uri = None, None
if gunicorn_argv:
    saved = sys.argv
    try:
        sys.argv = gunicorn_argv
        from gunicorn.app.wsgiapp import WSGIApplication

        application = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
        cfg = application.cfg
        app_uri = getattr(application, "app_uri", None) or getattr(cfg, "wsgi_app", None)
    except SystemExit as exc:
        out["errors"].append("gunicorn refused its own config (exit %s)" % exc.code)
    except Exception as exc:
        out["errors"].append("gunicorn config: %s: %s" % (type(exc).__name__, exc))
    finally:
        sys.argv = saved

if cfg is not None and view:
    try:
        effective = cfg.worker_class
        out["gunicorn"] = {
            "worker_class": cfg.worker_class_str,
            "effective_worker_class": "%s.%s" % (effective.__module__, effective.__name__),
            "workers": cfg.workers, "threads": cfg.threads, "worker_connections": cfg.worker_connections,
            "preload_app": cfg.preload_app, "config": cfg.config, "bind": list(cfg.bind or []),
            "reload": bool(cfg.reload), "max_requests": cfg.max_requests, "app_uri": app_uri,
            "graceful_timeout": cfg.graceful_timeout,
            "chdir": cfg.chdir,
        }
    except Exception as exc:
        out["errors"].append("gunicorn config: %s: %s" % (type(exc).__name__, exc))

try:
    import os as _os

    imported_before = set(sys.modules)
    source = load_settings_module(cfg, app_uri)
    out["settings_module"] = {"module": _os.environ.get("DJANGO_SETTINGS_MODULE"), "source": source}
    # the settings module alone, as the app's workers import it: django.setup() would also load
    # every installed app and model (~0.3 s of CPU per run), and DATABASES does not depend on them
    from django.conf import settings

    databases = settings.DATABASES
    app_dir = _os.getcwd().rstrip("/") + "/"
    out["settings_module"]["loaded"] = sorted(  # the app's own files this import ran, settings among them
        path for path in (getattr(sys.modules.get(name), "__file__", None) for name in set(sys.modules) - imported_before)
        if path and path.startswith(app_dir))
    configured = django_defaults_filled(databases)
    for alias, db in databases.items():
        full = configured.get(alias) or db
        options = full.get("OPTIONS") or {}
        out["databases"][alias] = {
            "ENGINE": full.get("ENGINE"), "CONN_MAX_AGE": full.get("CONN_MAX_AGE"),
            "CONN_HEALTH_CHECKS": full.get("CONN_HEALTH_CHECKS"), "pool": bool(options.get("pool")),
            "HOST": full.get("HOST"), "PORT": str(full.get("PORT") or ""), "NAME": str(full.get("NAME") or ""),
            # keys the settings leave out and Django fills in: whatever built the dict (a literal,
            # dj-database-url, django-environ's env.db(), decouple), its default is what runs
            "defaulted": sorted(k for k in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS") if k not in db and k in full),
        }
    if want_db:
        from django.db import connections

        for alias in settings.DATABASES:
            out["db_server"][alias] = db_server_info(connections[alias], close=True)
    if serve:  # one connection per alias, kept: each request reads the counters without a new connect
        from django.db import connections

        if view:
            say(MARK + json.dumps(out) + "\n")
        for _line in sys.stdin:
            reply = {"db_server": {alias: db_server_info(connections[alias], close=False)
                                   for alias in settings.DATABASES}}
            say(json.dumps(reply) + "\n")
        sys.exit(0)
except Exception as exc:
    out["errors"].append("django: %s: %s" % (type(exc).__name__, exc))

if serve:  # the session could not start: say why, as the line(s) the agent waits for
    if view:
        say(MARK + json.dumps(out) + "\n")
    say(json.dumps({"errors": out["errors"] or ["the counter session ended"]}) + "\n")
    sys.exit(0)
say("\n" + MARK + json.dumps(out))
