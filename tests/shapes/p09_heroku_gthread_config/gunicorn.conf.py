import os

bind = ["[::]:{}".format(os.environ.get("PORT", 5006))]

# The thread based worker suits blocking I/O better than the default sync worker.
worker_class = "gthread"

# The buildpack sets WEB_CONCURRENCY from the dyno size.
workers = os.environ.get("WEB_CONCURRENCY", 1)

threads = 5
preload_app = True
timeout = 20

if os.environ.get("ENVIRONMENT") == "development":
    reload = True
else:
    reuse_port = True
