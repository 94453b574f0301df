import environ

env = environ.Env()

DATABASES = {
    "default": env.db("DATABASE_URL", default="psql://postgres:postgres@db/postgres"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
