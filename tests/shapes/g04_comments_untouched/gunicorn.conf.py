# History: we used to run
#     worker_class = 'gevent'
#     workers = 8
# but Django opened a new DB connection per request (see INC-1234).
#worker_class = "gevent"
# threads = 32

bind = "127.0.0.1:8001"
worker_class = "gevent"  # worker_class = 'sync' was too slow
workers = 4  # was: workers = 8
"""
A docstring that mentions worker_class = "gevent" is not a setting either.
"""
