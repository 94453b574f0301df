# Models uktrade/directory-api conf/gunicorn.py: only a psycogreen post_fork hook, no worker class.
from psycogreen.gevent import patch_psycopg


def post_fork(server, worker):
    patch_psycopg()
    worker.log.info("Enabled async Psycopg2")
