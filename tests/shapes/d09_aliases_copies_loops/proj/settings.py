import os

_primary = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("DB_NAME", "proj"),
    "HOST": "primary",
}
_primary["TEST"] = _primary  # points back at the same dict

DATABASES = {"default": _primary}
DATABASES["replica"] = DATABASES["default"].copy()
DATABASES["replica"]["HOST"] = "replica"
DATABASES["reports"] = DATABASES["default"]  # the very same dict

for alias in DATABASES:
    DATABASES[alias]["ATOMIC_REQUESTS"] = True

for name, conf in DATABASES.items():
    conf["CONN_MAX_AGE"] = 60
