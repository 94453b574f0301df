# Copied to /opt/netbox/gunicorn.py by the install guide.
bind = '127.0.0.1:8001'
# 2n+1 workers, n the number of cores
workers = 5
threads = 3
timeout = 120
max_requests = 5000
max_requests_jitter = 500
