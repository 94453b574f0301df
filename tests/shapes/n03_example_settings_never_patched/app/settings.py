# A settings module whose DEBUG comes from the environment, and a local_settings_example.py
# next to it that a person copies to local_settings.py (gitignored) on a development machine.
import os

DEBUG = os.environ.get("DEBUG", "0") == "1"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DB_NAME", "app"),
    }
}
