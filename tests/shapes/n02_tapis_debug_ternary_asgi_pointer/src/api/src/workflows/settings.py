# Models tapis-project/tapis-workflows src/api/src/workflows/settings.py: DEBUG depends on ENV,
# so the module serves production (ENV=PROD) as well as development.
import os

ENVS = ["LOCAL", "DEV", "STAGE", "PROD"]
ENV = os.environ.get("ENV", "PROD")

DEBUG = True if ENV != "PROD" else False

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": os.environ.get("DB_NAME", "workflows"),
        "HOST": os.environ.get("DB_HOST", "localhost"),
    }
}
