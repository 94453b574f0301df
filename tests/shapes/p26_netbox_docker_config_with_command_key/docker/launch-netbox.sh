#!/bin/bash
exec gunicorn -c /etc/netbox/config/gunicorn_config.py netbox.wsgi
