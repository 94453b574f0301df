import os

DATABASES = {
    'default': {
        'ENGINE': os.environ.get('MAYAN_DATABASE_ENGINE', 'django.db.backends.sqlite3'),
        'NAME': os.environ.get('MAYAN_DATABASE_NAME', 'db.sqlite3'),
        'CONN_MAX_AGE': int(os.environ.get('MAYAN_DATABASE_CONN_MAX_AGE', 0)),
    }
}
