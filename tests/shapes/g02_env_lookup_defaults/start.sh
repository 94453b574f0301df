#!/bin/bash
set -euo pipefail

python manage.py collectstatic --noinput

exec gunicorn --config config/gunicorn.py app.wsgi:application
