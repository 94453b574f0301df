"""Gather everything a run needs from one host, in three or four round trips over one connection.

1. probe: processes, the gunicorn master, its restart method (agent `probe`);
2. files it names (gunicorn config, settings package, supervisor and compose files),
   directory listings, the app's own view of its settings (`introspect`), recent logs;
3. files found through those listings (supervisor includes, split settings).
"""
from __future__ import annotations

import base64
import json
import posixpath
import shlex
import dataclasses
from dataclasses import dataclass, field

from remediation.agent import INTROSPECT_SOURCE
from remediation import managers
from remediation.apps import name_of
from remediation.discovery.cmdline import parse_args, plain_words
from remediation.discovery.settings_select import settings_pointer
from remediation.facts import baked
from remediation.facts.baked import BakedCode
from remediation.facts.parse import config_file, parse_probe
from remediation.model import AppView, GunicornMaster, HostFacts, RemoteFile
from remediation.errors import RemoteError
from remediation.transport.protocol import Counters, Introspect, Logs, Read, Request
from remediation.transport.remote import Remote

INTROSPECT_MARK = "@@INTROSPECT@@"


@dataclass
class Gathered:
    facts: HostFacts
    master: GunicornMaster
    files: dict[str, RemoteFile] = field(default_factory=dict)
    introspection: AppView = field(default_factory=AppView)
    logs: str = ""
    log_source: dict | None = None  # {"kind": "file", "path"} or {"kind": "docker", "container"}
    settings_dir: str | None = None
    settings_module: str | None = None  # DJANGO_SETTINGS_MODULE as the app's workers get it
    settings_module_source: str | None = None  # where that came from
    baked: BakedCode | None = None  # a compose container with no mount over its code (facts/baked.py)
    baked_needed: list[str] = field(default_factory=list)  # container paths the plan needs from the image
    app: str = ""  # the app's name (apps.py): its manager's name for it
    code_root: str | None = None  # host path of the import root its WSGI module was found under


def interpreter(master: GunicornMaster) -> str:
    """The app's Python: argv[0] when it is an interpreter (keeps the venv), else /proc/PID/exe."""
    first = posixpath.basename(master.argv[0]) if master.argv else ""
    if first.startswith("python"):
        return master.argv[0]
    return master.exe or "python3"


def import_roots(master: GunicornMaster) -> list[str]:
    """The directories the process imports the app and its settings from, in Python's order, as
    the process sees them: gunicorn's --pythonpath entries (each put first on sys.path, so the last
    one leads), its working directory (/proc/PID/cwd, where --chdir left it), then the entries of
    its PYTHONPATH (relative ones against the working directory, an empty one is it)."""
    cwd = master.cwd or "/"
    argv = master.gunicorn_argv[1:]
    occ = parse_args(plain_words(argv)).last("pythonpath")
    if occ is None and master.env.get("GUNICORN_CMD_ARGS"):
        try:
            occ = parse_args(plain_words(shlex.split(master.env["GUNICORN_CMD_ARGS"]))).last("pythonpath")
        except ValueError:
            occ = None
    flagged = [posixpath.normpath(posixpath.join(cwd, p)) for p in (occ.value.split(",") if occ else []) if p]
    env = [posixpath.normpath(posixpath.join(cwd, p)) for p in master.env.get("PYTHONPATH", "").split(":")]
    roots = list(reversed(flagged)) + [posixpath.normpath(cwd)] + env
    return list(dict.fromkeys(roots))


def settings_dir(master: GunicornMaster, module: str | None = None, root: str | None = None) -> str | None:
    """The directory (as the process sees it) holding the settings module and its siblings, under
    `root` (an import root; None: the working directory)."""
    module = module or master.env.get("DJANGO_SETTINGS_MODULE")
    root = root or master.cwd
    if not module or not root:
        return None
    return posixpath.join(root, *module.split(".")[:-1])


def settings_dirs(master: GunicornMaster, module: str | None = None, root: str | None = None) -> list[str]:
    """Host paths of the directories whose .py files may make up the settings: the module's
    directory, and the module itself when it is a package (`config.settings` -> settings/)."""
    module = module or master.env.get("DJANGO_SETTINGS_MODULE")
    sdir = settings_dir(master, module, root)
    if sdir is None or not module:
        return []
    dirs = [sdir, posixpath.join(sdir, module.split(".")[-1])]
    return [d for d in (master.host_path(p) for p in dirs) if d]


def settings_candidates(master: GunicornMaster, module: str | None = None) -> list[list[str]]:
    """settings_dirs under each import root, in import order (the first that holds it wins)."""
    found = [settings_dirs(master, module, root) for root in import_roots(master)]
    return [dirs for dirs in found if dirs]


def listed_module(dirs: list[str], listings: dict, leaf: str) -> bool:
    """The directory listings show module `leaf` (leaf.py, or a package leaf/) in dirs[0]."""
    listing = listings.get(dirs[0]) if dirs else None
    return isinstance(listing, list) and (f"{leaf}.py" in listing or leaf in listing)


def first_listed(master: GunicornMaster, candidates: list[list[str]], listings: dict,
                 module: str | None = None) -> list[str]:
    """The settings directories of the first import root holding the module, as Python finds it;
    the working directory's when no root does (the listings cannot tell)."""
    module = module or master.env.get("DJANGO_SETTINGS_MODULE") or ""
    leaf = module.split(".")[-1]
    for dirs in candidates:
        if listed_module(dirs, listings, leaf):
            return dirs
    return settings_dirs(master, module)


def app_module_files(master: GunicornMaster) -> list[str]:
    """Where the WSGI/ASGI module gunicorn imports may be (`proj.wsgi:application` ->
    ROOT/proj/wsgi.py), under each import root in import order: the first that exists is it."""
    app = parse_args(plain_words(master.gunicorn_argv[1:])).app
    if not app:
        return []
    module = app.split(":", 1)[0]
    if not all(part.isidentifier() for part in module.split(".")):
        return []
    return [posixpath.join(root, *module.split(".")) + ".py" for root in import_roots(master)]


def _settings_module(result: "Gathered", app_file: str | None) -> tuple[str | None, str | None]:
    """DJANGO_SETTINGS_MODULE: the app's own view when it ran, else gunicorn's --env on the
    command line, else the process environment, else what the app module names (Django's
    template: setdefault in wsgi.py)."""
    view = result.introspection.extra.get("settings_module") or {}
    if view.get("module"):
        return view["module"], view.get("source")
    cli = [occ.value.partition("=")[2] for occ in
           parse_args(plain_words(result.master.gunicorn_argv[1:])).occurrences.get("env", [])
           if occ.value.partition("=")[0] == "DJANGO_SETTINGS_MODULE"]
    if cli and cli[-1]:  # gunicorn sets its --env over the process environment
        return cli[-1], "gunicorn --env on the command line"
    env = result.master.env.get("DJANGO_SETTINGS_MODULE")
    if env:
        return env, "process environment"
    remote_file = result.files.get(app_file) if app_file else None
    text = remote_file.text if remote_file is not None else None
    found = settings_pointer(app_file, text) if text and app_file else None
    return (found, f"{app_file}: os.environ.setdefault") if found else (None, None)


def loaded_settings(result: "Gathered") -> list[str]:
    """Host paths of the settings files the app's own settings import ran (its view's `loaded`),
    wherever they are: a module on PYTHONPATH outside the working directory included."""
    loaded = (result.introspection.extra.get("settings_module") or {}).get("loaded") or []
    return [h for h in (result.master.host_path(p) for p in loaded) if h]


def _parse_files(reply: dict) -> dict[str, RemoteFile]:
    files = {}
    for info in reply["files"]:
        if not info.get("exists"):
            files[info["path"]] = RemoteFile(info["path"], None, None, error="missing")
            continue
        content = base64.b64decode(info["content"]) if "content" in info else None
        files[info["path"]] = RemoteFile(
            info["path"], content, info.get("sha256"), info.get("mode"), info.get("uid"), info.get("gid"),
            error=info.get("error"), symlink=info.get("symlink", False), realpath=info.get("realpath"),
            mtime=info.get("mtime"))
    return files


def gather(remote: Remote, *, want_db: bool = True, introspect: bool = True, app: str | None = None,
           probe: dict | None = None) -> Gathered:
    """Probe, then read what the process names, then what those files name (3 round trips;
    a 4th for a supervisor program's log). introspect=False skips the app's interpreter and
    the logs: a static view from processes and files alone (fleet surveys). `app`: which of the
    host's gunicorn apps (apps.py; None: the only one); `probe`: a probe reply just read."""
    facts = parse_probe(dict(probe if probe is not None else remote.probe()))
    master = facts.master(app)
    result = Gathered(facts, master, app=name_of(facts, master))
    restart = master.restart
    manager = managers.of(restart)
    result.baked = baked.prepare(remote, master, result.files)

    wanted: list[str] = []
    config_path, _how = config_file(master)
    host_config = master.host_path(config_path) if config_path else None
    if host_config:
        wanted.append(host_config)
    candidates = settings_candidates(master)  # the settings module under each import root
    app_files = app_module_files(master)
    host_app_files = [h for h in (master.host_path(p) for p in app_files) if h]
    wanted += [p for p in host_app_files if p not in wanted]
    wanted += [p for p in manager.files(restart) if p not in wanted]
    early_log = manager.log_source(restart, {}) if introspect else None
    all_dirs = list(dict.fromkeys(d for dirs in candidates for d in dirs))
    ops: list[Request] = [Read(wanted, list_dirs=all_dirs)]
    if introspect:  # with the DB: the app's view and the server's budget and counters from one
        # session (later counter reads reuse it), one interpreter and one settings import
        ops.append(counters_op(master, view=True) if want_db else introspect_op(master, want_db=False))
    if early_log:
        ops.append(Logs([early_log], lines=400))
    replies = [envelope.data for envelope in remote.call(*ops, parallel=True)]
    result.files.update(_parse_files(replies[0]))
    list_dirs = first_listed(master, candidates, replies[0]["listings"]) if candidates else []
    if list_dirs:
        result.settings_dir = list_dirs[0]
    host_app_file = next((p for p in host_app_files if p in result.files and result.files[p].error != "missing"),
                         host_app_files[0] if host_app_files else None)
    for path in host_app_files:  # the other roots' candidates: not the module the process imports
        other = result.files.get(path)
        if path not in (host_app_file, host_config) and other is not None and other.error == "missing":
            del result.files[path]
    app_file = next((c for c in app_files if master.host_path(c) == host_app_file), app_files[0] if app_files else None)
    found = result.files.get(host_app_file) if host_app_file else None
    if found is not None and found.error != "missing":
        result.code_root = master.host_path(import_roots(master)[app_files.index(app_file)]) if app_file else None
    if introspect:
        result.introspection = parse_introspection(replies[1].get("view", replies[1]) if want_db else replies[1])
        if want_db:
            counters = replies[1]
            result.introspection.db_server = counters.get("db_server") or {}
            result.introspection.errors += [f"database counters: {e}" for e in counters.get("errors") or []]
    if early_log:
        result.log_source = early_log
        result.logs = replies[-1].get("app", "") if isinstance(replies[-1].get("app"), str) else ""

    more: list[str] = []
    for listed in list_dirs:
        listing = replies[0]["listings"].get(listed)
        if isinstance(listing, list):
            more += [posixpath.join(listed, name) for name in listing if name.endswith(".py")]
    restart.manager_reads = manager.reads(restart, result.files)
    globs = manager.more_globs(restart, result.files)
    more += loaded_settings(result)
    result.settings_module, result.settings_module_source = _settings_module(result, host_app_file)
    late = (settings_candidates(master, result.settings_module)
            if result.settings_module and result.settings_module != master.env.get("DJANGO_SETTINGS_MODULE") else [])
    late_dirs = [d for dirs in late for d in dirs if d not in list_dirs]
    if late_dirs:  # named by the app (its --env, its wsgi.py), not by the process environment
        result.settings_dir = late_dirs[0]
        globs += [posixpath.join(d, "*.py") for d in late_dirs]
    plain = [p for p in more + globs if not any(ch in p for ch in "*?[")]
    patterns = [p for p in globs if p not in plain]
    missing = sorted(set(plain) - set(result.files))
    if missing or patterns:
        reply = remote.read(missing, globs=patterns)
        result.files.update({path: f for path, f in _parse_files(dict(reply)).items() if path not in result.files})
    if len(late) > 1:  # the first import root that holds the module is where Python finds it
        result.settings_dir = next((dirs[0] for dirs in late if any(posixpath.dirname(p) in dirs and f.error != "missing"
                                                                    for p, f in result.files.items())), late[0][0])
    if result.baked is not None:
        result.baked_needed = [p for p in [config_path, app_file] if p] + [
            d for m in {master.env.get("DJANGO_SETTINGS_MODULE"), result.settings_module} if m
            for d in [settings_dir(master, m)] if d]
        baked.verify(remote, result.baked, master, result.files, interpreter(master))
    if introspect and not early_log:
        late_log = manager.log_source(restart, result.files)
        if late_log:
            result.log_source = late_log
            logs = remote.logs([late_log], bytes=65536, lines=400)
            result.logs = logs["app"] if isinstance(logs.get("app"), str) else ""
    return result


def introspect_op(master: GunicornMaster, *, want_db: bool, gunicorn: bool = True,
                  env: dict[str, str] | None = None, image_run: dict | None = None) -> Introspect:
    """The agent request that asks gunicorn and Django (as the app runs them) for their view;
    `env` overrides variables of the process's environment (what a restart will change);
    `image_run` ({"image", "like": container id}) runs it in a new container of a freshly built image."""
    engine = managers.of(master.restart).ENGINE if master.restart.container else None
    return Introspect(master.pid, master.uid, interpreter(master), master.cwd, master.restart.container,
                      INTROSPECT_SOURCE, ["1" if want_db else "0", *(master.gunicorn_argv if gunicorn else [])],
                      env or {}, image_run=image_run or None, engine=None if engine == "docker" else engine)


def counters_op(master: GunicornMaster, *, view: bool = False) -> Counters:
    """The agent request that reads the DB server's counters through the app's settings, over a
    session (one kept connection per alias) the agent keeps for the whole SSH connection;
    `view`: the reply's "view" is also the app's own view, as introspect_op's reply."""
    op = introspect_op(master, want_db=True)
    return Counters(**{f.name: getattr(op, f.name) for f in dataclasses.fields(op)}, view=True if view else None)


def introspect(remote: Remote, master: GunicornMaster, *, want_db: bool = False, gunicorn: bool = True,
               env: dict[str, str] | None = None, image_run: dict | None = None) -> AppView:
    """One round trip: the app's own view of its gunicorn settings, DATABASES and (optionally) DB server."""
    return parse_introspection(dict(remote.introspect(introspect_op(master, want_db=want_db, gunicorn=gunicorn, env=env,
                                                                    image_run=image_run))))


def parse_introspection(reply: dict) -> AppView:
    stdout = reply.get("stdout", "")
    if INTROSPECT_MARK not in stdout:
        detail = (reply.get("stderr") or reply.get("agent_error") or "").strip().splitlines()[-1:] or ["no output"]
        raise RemoteError(f"cannot run the app's Python to read its settings: {detail[0]}")
    return AppView.from_json(json.loads(stdout.split(INTROSPECT_MARK, 1)[1]))
