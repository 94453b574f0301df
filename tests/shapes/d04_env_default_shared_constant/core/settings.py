import os

# One knob for every alias.
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", 0))
DB_HEALTH_CHECKS = os.environ.get("DB_HEALTH_CHECKS", "false").lower() == "true"


def _db(name, host):
    return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "HOST": host}


DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "core",
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
    },
    "reporting": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "reporting",
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": DB_HEALTH_CHECKS,
    },
}
