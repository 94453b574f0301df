DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "site",
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }
}
