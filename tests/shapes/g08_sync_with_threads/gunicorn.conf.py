# sync + threads > 1: gunicorn silently runs the gthread worker
worker_class = "sync"
workers = 2
threads = 4
