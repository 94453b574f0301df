#!/bin/bash
# Runs the webapp (from inside the app container).
set -euxo pipefail

PORT=${PORT:-"8000"}
GUNICORN_WORKERS=${GUNICORN_WORKERS:-"1"}
GUNICORN_WORKER_CLASS=${GUNICORN_WORKER_CLASS:-"sync"}
CMDPREFIX="${CMDPREFIX:-}"

if [ "${1:-}" == "--dev" ]; then
    cd /app/webapp/ && ${CMDPREFIX} python manage.py runserver 0.0.0.0:8000
else
    ${CMDPREFIX} gunicorn \
        --pythonpath /app/webapp/ \
        --workers="${GUNICORN_WORKERS}" \
        --worker-class="${GUNICORN_WORKER_CLASS}" \
        --error-logfile=- \
        --bind 0.0.0.0:"${PORT}" \
        crashstats.wsgi:application
fi
