import environ

env = environ.Env(
    DD_DATABASE_URL=(str, ""),
    DD_DATABASE_ENGINE=(str, "django.db.backends.postgresql"),
    DD_DATABASE_NAME=(str, "defectdojo"),
)

if len(env("DD_DATABASE_URL")) > 0:
    DATABASES = {
        "default": env.db("DD_DATABASE_URL"),
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": env("DD_DATABASE_ENGINE"),
            "NAME": env("DD_DATABASE_NAME"),
        },
    }
