# Models uktrade/great-international-ui conf/gunicorn.py: a psycogreen hook kept from a shared template.
from psycogreen.gevent import patch_psycopg


def post_fork(server, worker):
    patch_psycopg()
