from .base import *  # noqa
from .base import env

# SECURITY
SECRET_KEY = env("DJANGO_SECRET_KEY", default="x")

# DATABASES
# ------------------------------------------------------------------------------
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)  # noqa: F405
