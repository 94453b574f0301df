worker_class = "gevent
