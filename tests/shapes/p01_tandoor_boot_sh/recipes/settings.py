import os

DEBUG = bool(int(os.getenv("DEBUG", True)))

DATABASES = {
    "default": {
        "ENGINE": os.getenv("DB_ENGINE") if os.getenv("DB_ENGINE") else "django.db.backends.sqlite3",
        "HOST": os.getenv("POSTGRES_HOST"),
        "PORT": os.getenv("POSTGRES_PORT"),
        "USER": os.getenv("POSTGRES_USER"),
        "PASSWORD": os.getenv("POSTGRES_PASSWORD"),
        "NAME": os.getenv("POSTGRES_DB") if os.getenv("POSTGRES_DB") else "db.sqlite3"
    }
}
