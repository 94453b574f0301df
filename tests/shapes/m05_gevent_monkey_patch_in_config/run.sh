#!/bin/sh
exec gunicorn -c gunicorn_config.py web.wsgi
