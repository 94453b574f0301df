DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "pooled",
        "OPTIONS": {
            "pool": {"min_size": 2, "max_size": 10},
        },
    },
    "misconfigured": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "pooled",
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"pool": True},
    },
    "plain": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "other",
        "OPTIONS": {"pool": False, "sslmode": "require"},
    },
}
