access_logfile = '-'
graceful_timeout = 60
log_level = 'info'
preload_app = False  # gevent patching and preloading do not mix
timeout = 60
worker_class = 'gevent'
worker_connections = 2000


def post_fork(server, worker):
    try:
        from psycogreen.gevent import patch_psycopg
        patch_psycopg()
        worker.log.info("Made Psycopg2 Green")
    except ImportError:
        worker.log.info("Psycopg2 not patched")
