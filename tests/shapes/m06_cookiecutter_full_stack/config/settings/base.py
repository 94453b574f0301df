import environ

env = environ.Env()
DATABASES = {"default": env.db("DATABASE_URL", default="postgres:///app")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
