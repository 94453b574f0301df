#!/bin/sh
# Models tapis-project/tapis-workflows src/api/src/scripts/start.sh: gevent on the command line.
./scripts/init.sh
gunicorn --bind 0.0.0.0:8000 --workers 3 workflows.wsgi --worker-class gevent --timeout 600
