"""gunicorn settings, overridable from the environment (12-factor)."""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Worker model: keep in sync with the k8s resource limits.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
workers = int(os.getenv("GUNICORN_WORKERS", 4))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_connections = int(os.getenv("GUNICORN_WORKER_CONNECTIONS", 2000))
max_requests = 1000
