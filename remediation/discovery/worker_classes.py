"""gevent-likeness, defined once: gunicorn worker class names (gevent-like, standard, custom)
and the modules whose use marks gevent-specific application code."""

from __future__ import annotations

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


def classify(name: str) -> str:
    """'gevent', 'sync', 'gthread', 'asgi', 'custom-gevent' or 'custom'."""
    if name in GEVENT_LIKE:
        return "gevent"
    if name in SYNC:
        return "sync"
    if name in GTHREAD:
        return "gthread"
    lowered = name.lower()
    if "uvicorn" in lowered or "asgi" in lowered or "daphne" in lowered:
        return "asgi"
    if "gevent" in lowered or "eventlet" in lowered:
        return "custom-gevent"
    return "custom"


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
    return bool(name) and classify(name) == "gevent"


def gevent_code(text: str) -> list[tuple[int, str]]:
    """(line, what) of the first use of each kind of gevent-specific code, comments skipped."""
    found = []
    for needle, what in _CODE_NEEDLES:
        for number, line in enumerate(text.splitlines(), 1):
            if needle in line and not line.lstrip().startswith("#"):
                found.append((number, what))
                break
    return found
