from .common import *  # noqa

DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "e2e"}}
