# Models uktrade/great-international-ui conf/settings.py: a front end that calls APIs and sets no
# DATABASES at all (sessions in signed cookies, content from a CMS API).
import os

DEBUG = os.environ.get("DEBUG", "false") == "true"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
