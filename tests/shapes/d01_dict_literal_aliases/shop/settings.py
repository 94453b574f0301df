import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = False

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DB_NAME", "shop"),
        "HOST": os.environ.get("DB_HOST", "db"),
        "CONN_MAX_AGE": 0,  # close after each request
    },
    "replica": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DB_NAME", "shop"),
        "HOST": os.environ.get("DB_REPLICA_HOST", "db-replica"),
        "TEST": {"MIRROR": "default"},
    },
    "analytics": {"ENGINE": "django.db.backends.postgresql", "NAME": "analytics", "CONN_MAX_AGE": 600,
                  "CONN_HEALTH_CHECKS": True},
}

# DATABASES["default"]["CONN_MAX_AGE"] = 60
