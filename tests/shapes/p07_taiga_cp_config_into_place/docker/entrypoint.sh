#!/usr/bin/env bash
set -euo pipefail
python manage.py migrate
chown -R taiga:taiga /taiga-back
exec gosu taiga gunicorn taiga.wsgi:application \
    --name taiga_api \
    --bind 0.0.0.0:8000 \
    --workers 3 \
    --worker-tmp-dir /dev/shm \
    --log-level=info \
    --access-logfile - \
    "$@"
