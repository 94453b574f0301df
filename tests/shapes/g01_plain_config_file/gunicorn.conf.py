# Gunicorn configuration for the API.
# http://docs.gunicorn.org/en/stable/settings.html
import multiprocessing  # noqa: F401

bind = "0.0.0.0:8000"
backlog = 2048

worker_class = "gevent"
workers = 2
threads = 16
worker_connections = 1000
timeout = 60
keepalive = 5

accesslog = "-"
errorlog = "-"
loglevel = "info"
