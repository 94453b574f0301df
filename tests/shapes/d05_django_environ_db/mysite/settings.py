import environ

env = environ.Env(DEBUG=(bool, False))
environ.Env.read_env()

DEBUG = env("DEBUG")

DATABASES = {
    # CONN_MAX_AGE can also be passed as ?CONN_MAX_AGE=600 in DATABASE_URL
    "default": env.db("DATABASE_URL", default="postgres://app@db:5432/app"),
}

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
