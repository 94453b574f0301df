DATABASES = None

try:
    from graphite.local_settings import *  # noqa
except ImportError:
    pass

if not DATABASES:
    DATABASES = {
        "default": {
            "NAME": "/opt/graphite/storage/graphite.db",
            "ENGINE": "django.db.backends.sqlite3",
        },
    }
