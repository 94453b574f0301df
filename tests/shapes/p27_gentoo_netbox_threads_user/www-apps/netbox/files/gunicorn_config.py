command = '/usr/bin/gunicorn'

pythonpath = '/opt/netbox/netbox'

# The address (typically localhost) and port the WSGI process listens on
bind = '127.0.0.1:8001'

# 2n+1 workers, n the number of CPU cores
workers = 3

# Number of threads per worker process
threads = 3

timeout = 120
max_requests = 5000
max_requests_jitter = 500

user = 'netbox'
