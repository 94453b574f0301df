worker_class = "gthread"
workers = 2
threads = 8
worker_connections = 1000
