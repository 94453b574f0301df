from gevent import monkey

monkey.patch_all()

from psycogreen.gevent import patch_psycopg  # noqa: E402

worker_class = "gevent"
workers = 4


def post_fork(server, worker):
    patch_psycopg()
