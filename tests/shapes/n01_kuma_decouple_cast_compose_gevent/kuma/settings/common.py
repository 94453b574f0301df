# Models mdn/kuma kuma/settings/common.py: python-decouple parses DATABASE_URL with a cast.
import dj_database_url
from decouple import config

DEBUG = config("DEBUG", default=False, cast=bool)

DATABASES = {
    "default": config(
        "DATABASE_URL",
        default="postgresql://kuma:kuma@localhost/kuma",
        cast=dj_database_url.parse,
    )
}

CACHE_PREFIX = "kuma"
