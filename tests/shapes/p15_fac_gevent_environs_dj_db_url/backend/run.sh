#!/bin/bash
set -e
python manage.py migrate
exec gunicorn --config gunicorn.conf.py config.wsgi:application --bind 0.0.0.0:8000
