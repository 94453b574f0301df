#!/usr/bin/env bash
# The worker count comes from the environment at run time (the platform sets GUNICORN_WORKERS=6);
# the command must keep reading it.
set -e
python manage.py migrate --noinput
exec gunicorn blog.wsgi:application \
  --bind 0.0.0.0:8000 \
  --workers $GUNICORN_WORKERS \
  --worker-class gevent \
  --log-file=-
