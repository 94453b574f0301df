import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "proj",
    }
}

# Per-deployment tuning.
DATABASES["default"].update({
    "CONN_MAX_AGE": 0,
    "OPTIONS": {"charset": "utf8mb4"},
})
DATABASES["default"].update(CONN_HEALTH_CHECKS=False)
