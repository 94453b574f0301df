import environ

env = environ.Env()

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="mysql://root@localhost/treeherder"),
}

# Options every alias gets
for alias in DATABASES:
    DATABASES[alias]["TEST"] = {"NAME": "test_treeherder"}
