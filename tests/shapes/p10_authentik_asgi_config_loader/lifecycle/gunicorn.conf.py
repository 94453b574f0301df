"""Gunicorn config"""
import os

from authentik.lib.config import CONFIG
from lifecycle.worker import DjangoUvicornWorker

worker_class = "lifecycle.worker.DjangoUvicornWorker"
bind = "unix:///tmp/authentik-core.sock"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authentik.root.settings")

preload = True
max_requests = 1000

default_workers = 2
workers = CONFIG.get_int("web.workers", default_workers)
threads = CONFIG.get_int("web.threads", 4)

def post_fork(server, worker):
    pass
