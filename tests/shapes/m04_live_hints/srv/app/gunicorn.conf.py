import os

worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", 3))
