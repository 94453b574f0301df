worker_class = "gevent"
workers = 4
