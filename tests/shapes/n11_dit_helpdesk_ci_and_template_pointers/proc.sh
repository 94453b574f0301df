#!/bin/bash
# Models uktrade/dit-helpdesk proc.sh: the Procfile's web process, gevent on the command line.
python manage.py collectstatic -l --noinput
gunicorn -c config/gunicorn.py config.wsgi:application --worker-class=gevent --worker-connections=1000 --workers 9 --bind 0.0.0.0:$PORT
