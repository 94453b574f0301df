import os

from psycogreen.gevent import patch_psycopg

accesslog = os.environ.get('GUNICORN_ACCESSLOG', '-')
worker_class = os.environ.get('GUNICORN_WORKER_CLASS', 'gevent')
worker_connections = os.environ.get('GUNICORN_WORKER_CONNECTIONS', '10')

_enable_async_psycopg2 = (
    os.environ.get('GUNICORN_ENABLE_ASYNC_PSYCOPG2', '').lower() in ('true', '1')
)


def post_fork(server, worker):
    if worker_class == 'gevent' and _enable_async_psycopg2:
        patch_psycopg()
