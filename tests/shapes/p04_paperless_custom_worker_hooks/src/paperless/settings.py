import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(os.getenv("PAPERLESS_DATA_DIR", "../data"), "db.sqlite3"),
    }
}
