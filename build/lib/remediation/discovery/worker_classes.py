"""gunicorn worker class names: which are gevent-like, standard, or custom."""

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
