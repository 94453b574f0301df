#!/bin/bash
set -euo pipefail
echo "==> $(date +%H:%M:%S) ==> Running Gunicorn"
exec gunicorn --config gunicorn.conf.py --pythonpath "$PWD" -b unix:/nginx/gunicorn.socket --workers=4 config.wsgi:application
