# Models uktrade/directory-api conf/settings.py: dj-database-url without conn_max_age.
import dj_database_url
import environ

env = environ.Env()

DATABASES = {"default": dj_database_url.config(default="postgres://localhost/directory_api")}
