DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "chat",
        "CONN_MAX_AGE": 0,
    }
}
