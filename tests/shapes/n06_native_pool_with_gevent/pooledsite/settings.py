# Django 5.1's native psycopg pool: each request borrows a pooled connection, so a gevent worker
# does not open one per request. CONN_MAX_AGE must stay 0 with a pool.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "pooled",
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 8}},
    }
}
