import os

import dj_database_url

DATABASES = {}
DATABASES["default"] = dj_database_url.config(conn_max_age=int(os.getenv("CONN_MAX_AGE", "0")))
