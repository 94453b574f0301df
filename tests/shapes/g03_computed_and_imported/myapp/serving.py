"""Serving defaults shared by gunicorn and the health checks."""
WORKER_CLASS = "gevent"
MAX_REQUESTS = 500
