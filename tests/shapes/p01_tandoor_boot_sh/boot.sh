#!/bin/sh
# Container start script: wait for the database, migrate, then serve.
source venv/bin/activate

APP_PORT="${APP_PORT:-8080}"

if [ "${DB_ENGINE}" != 'django.db.backends.sqlite3' ]; then
  while pg_isready --host=${POSTGRES_HOST} -q; status=$?; attempt=$((attempt+1)); [ $status -ne 0 ] && [ $attempt -le 20 ]; do
      sleep 5
  done
fi

python manage.py migrate
python manage.py collectstatic --noinput

exec gunicorn -b :$APP_PORT --access-logfile - --error-logfile - --log-level INFO recipes.wsgi
