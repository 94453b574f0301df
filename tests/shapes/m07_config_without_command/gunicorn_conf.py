"""Loaded by the platform's own unit: `gunicorn -c gunicorn_conf.py ...` is not in this repo."""
import psycogreen.gevent

bind = "0.0.0.0:8080"
worker_class = "gevent"
worker_connections = 500


def post_fork(server, worker):
    psycogreen.gevent.patch_psycopg()
