import yaml

from .defaults import *  # noqa

with open("/etc/website/config.yaml") as handle:
    CONFIG = yaml.safe_load(handle)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": CONFIG["db"]["name"],
        "CONN_MAX_AGE": CONFIG["db"].get("conn_max_age", 0),
    }
}

try:
    from .local_settings import *  # noqa  (gitignored, per host)
except ImportError:
    pass
