"""Worker classes, classified once: gunicorn worker class names (gevent-like, sync, threaded,
ASGI, custom), what each kind means for the tool (kept, switched, refused, warmed up), and the
modules whose use marks gevent-specific application code."""

from __future__ import annotations

from enum import StrEnum


class WorkerKind(StrEnum):
    """What a worker class is, for connection reuse (the values are the strings reports use)."""

    GEVENT = "gevent"  # gevent-like: gevent or eventlet, any spelling gunicorn accepts
    SYNC = "sync"
    THREADED = "gthread"
    ASGI = "asgi"
    CUSTOM_GEVENT = "custom-gevent"  # a custom class built on gevent or eventlet
    CUSTOM = "custom"


GEVENT_LIKE = {
    "gevent", "gevent_wsgi", "gevent_pywsgi", "eventlet",
    "egg:gunicorn#gevent", "egg:gunicorn#gevent_wsgi", "egg:gunicorn#gevent_pywsgi",
    "egg:gunicorn#eventlet",
    "gunicorn.workers.ggevent.GeventWorker", "gunicorn.workers.ggevent.GeventPyWSGIWorker",
    "gunicorn.workers.geventlet.EventletWorker",
}
SYNC = {"sync", "egg:gunicorn#sync", "gunicorn.workers.sync.SyncWorker"}
GTHREAD = {"gthread", "egg:gunicorn#gthread", "gunicorn.workers.gthread.ThreadWorker"}
BUILTIN_OTHER = {"tornado", "egg:gunicorn#tornado", "gunicorn.workers.gtornado.TornadoWorker"}
ASGI_MARKERS = ("uvicorn", "asgi", "daphne", "hypercorn")  # in a class name: an ASGI worker
KEPT = (WorkerKind.SYNC, WorkerKind.THREADED)  # reuse connections already: the owner's capacity choice
REFUSED = (WorkerKind.ASGI, WorkerKind.CUSTOM, WorkerKind.CUSTOM_GEVENT)  # never switched by this tool
GREENLETS = (WorkerKind.GEVENT, WorkerKind.CUSTOM_GEVENT)  # one greenlet (and connection) per client


def classify(name: str) -> WorkerKind:
    """The kind of a worker class name (a built-in's short, egg: or full spelling, or a custom
    class path); tornado, a built-in that is none of these, counts as custom."""
    if name in GEVENT_LIKE:
        return WorkerKind.GEVENT
    if name in SYNC:
        return WorkerKind.SYNC
    if name in GTHREAD:
        return WorkerKind.THREADED
    lowered = name.lower()
    if any(marker in lowered for marker in ASGI_MARKERS):
        return WorkerKind.ASGI
    if "gevent" in lowered or "eventlet" in lowered:
        return WorkerKind.CUSTOM_GEVENT
    return WorkerKind.CUSTOM


def refused_as(name: str | None) -> str | None:
    """The one worker-class refusal (plan/decide and plan/preflight both ask it): what an ASGI or
    custom class is called in the refusal, or None when this tool may handle the class (every
    spelling of a built-in class, tornado included, or no class known)."""
    if not name or name in BUILTIN_OTHER:
        return None
    kind = classify(name)
    if kind not in REFUSED:
        return None
    return "an ASGI worker class" if kind == WorkerKind.ASGI else "a custom worker class"


def warms_up(name: str | None) -> bool:
    """Whether reuse is judged after a warm-up: a pool thread keeps its connection across requests,
    so each first request per thread may connect; a gevent-like worker opens one per client
    connection anyway (gevent and eventlet alike), so it gets none."""
    return not name or classify(name) not in GREENLETS


def describe(kind: str, name: str) -> str:
    return {
        "asgi": f"{name} is an ASGI worker: switching it to a WSGI worker would break the app",
        "custom-gevent": f"{name} is a custom gevent-based worker class: the app may depend on "
        "it; switch it by hand",
        "custom": f"{name} is a custom or non-standard worker class: not switched",
    }.get(kind, name)


GEVENT_MODULES = ("gevent", "psycogreen", "geventwebsocket", "eventlet")
_CODE_NEEDLES = (("monkey.patch_all", "gevent monkey-patching"), ("psycogreen", "psycogreen"),
                 ("gevent.spawn", "gevent.spawn"), ("geventwebsocket", "gevent-websocket"),
                 ("from gevent", "gevent imports"), ("import gevent", "gevent imports"),
                 ("from eventlet", "eventlet imports"), ("import eventlet", "eventlet imports"))


def is_gevent_like(name: str | None) -> bool:
    """A built-in gevent or eventlet worker (any spelling gunicorn accepts)."""
    return bool(name) and classify(name) == WorkerKind.GEVENT


def gevent_code(text: str) -> list[tuple[int, str]]:
    """(line, what) of the first use of each kind of gevent-specific code, comments skipped."""
    found = []
    for needle, what in _CODE_NEEDLES:
        for number, line in enumerate(text.splitlines(), 1):
            if needle in line and not line.lstrip().startswith("#"):
                found.append((number, what))
                break
    return found

