#!/bin/bash
set -e

LOGFILE=/var/log/django/microweb.log
LOGDIR=$(dirname $LOGFILE)

# number of gunicorn workers
NUM_WORKERS=17
HOST='127.0.0.1:8000'

USER=django
GROUP=microcosm

source /srv/www/django/microwebenv/bin/activate
cd /srv/www/django/microweb

exec /srv/www/django/microwebenv/bin/newrelic-admin run-program \
  /srv/www/django/microwebenv/bin/gunicorn_django -b $HOST \
  -w $NUM_WORKERS -k gevent --user=$USER --group=$GROUP --log-level=info \
  --max-requests 5000
