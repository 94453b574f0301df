DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "web", "CONN_MAX_AGE": 0}}
