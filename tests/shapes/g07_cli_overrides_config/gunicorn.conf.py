bind = "0.0.0.0:8000"
worker_class = "sync"
workers = 8
threads = 1
timeout = 30
