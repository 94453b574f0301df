# The production module imports DATABASES from base, then replaces the alias from the URL:
# the assignment at the bottom is the one that wins, not the dict in base.py.
import dj_database_url

from .base import *  # noqa
from .base import DATABASES

DEBUG = False

ALLOWED_HOSTS = ["example.org"]

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

DATABASES["default"] = dj_database_url.config(default="postgres://app@db/app")
