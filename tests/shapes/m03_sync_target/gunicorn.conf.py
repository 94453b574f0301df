worker_class = "gevent"
workers = 2
threads = 16
worker_connections = 1000
