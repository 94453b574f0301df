#!/bin/bash
set -e
python manage.py wait_for_db

# Machine fingerprint from a pipeline whose awk program has braces in quotes
HOSTNAME=$(hostname)
MAC_ADDRESS=$(ip link show | awk '/ether/ {print $2}' | head -n 1)
SIGNATURE=$(echo "$HOSTNAME$MAC_ADDRESS" | sha256sum | awk '{print $1}')
export MACHINE_SIGNATURE=$SIGNATURE

python manage.py register_instance "$MACHINE_SIGNATURE"

exec gunicorn -w "$GUNICORN_WORKERS" -k uvicorn.workers.UvicornWorker plane.asgi:application --bind "${BIND_HOST:-[::]}":"${PORT:-8000}" --max-requests 1200 --access-logfile -
