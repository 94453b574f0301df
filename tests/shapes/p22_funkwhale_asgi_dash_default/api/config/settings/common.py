import environ

env = environ.Env()

DATABASE_URL = env.db("DATABASE_URL")
DATABASES = {"default": DATABASE_URL}
DB_CONN_MAX_AGE = DATABASES["default"]["CONN_MAX_AGE"] = env("DB_CONN_MAX_AGE", default=60 * 5)
