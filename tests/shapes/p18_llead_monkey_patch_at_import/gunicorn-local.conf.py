from gevent import monkey
from psycogreen.gevent import patch_psycopg

monkey.patch_all()


bind = "0.0.0.0:8000"
loglevel = "info"
errorlog = '-'

raw_env = [
    'DJANGO_SETTINGS_MODULE=config.settings.production',
]

worker_class = 'gevent'
workers = 3


def do_post_fork(server, worker):
    patch_psycopg()


post_fork = do_post_fork
