import os

bind = "0.0.0.0:" + os.getenv("PORT", "8000")
worker_class = os.getenv("GUNICORN_WORKER_CLASS", "gevent")
workers = int(os.getenv("GUNICORN_WORKERS", 3))
