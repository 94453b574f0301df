# The app's settings already keep connections: this case is about the worker side, and the
# worker switch only lands together with a persistent CONN_MAX_AGE (two halves of one fix).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }
}
