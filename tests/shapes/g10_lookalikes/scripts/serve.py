"""Serve the legacy app with gevent's own WSGI server (no gunicorn)."""
from gevent import monkey

monkey.patch_all()

from gevent.pywsgi import WSGIServer  # noqa: E402

from legacy.wsgi import application  # noqa: E402

WSGIServer(("0.0.0.0", 8080), application).serve_forever()
