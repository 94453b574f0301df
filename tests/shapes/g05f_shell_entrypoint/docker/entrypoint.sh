#!/usr/bin/env bash
set -e

# Wait for postgres
until pg_isready -h "$DB_HOST"; do sleep 1; done

python manage.py migrate --noinput

if [ "$1" = "web" ]; then
    shift
    # exec gunicorn -k sync app.wsgi   (old)
    exec gosu app newrelic-admin run-program \
        /venv/bin/gunicorn paperless.wsgi:application \
        --worker-class gevent \
        --workers "${GUNICORN_WORKERS:-3}" \
        --bind "0.0.0.0:8000" \
        "$@"
fi

exec "$@"
