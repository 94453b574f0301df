"""With these settings, tests run faster."""
from .base import *  # noqa

DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
TEST_RUNNER = "django.test.runner.DiscoverRunner"
