import multiprocessing

from myapp.serving import WORKER_CLASS, MAX_REQUESTS
from myapp.runtime_config import load_config

CONFIG = load_config()

worker_class = WORKER_CLASS
workers = multiprocessing.cpu_count() * 2 + 1
threads = CONFIG["gunicorn"]["threads"]
max_requests = MAX_REQUESTS
