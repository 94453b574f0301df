import os
import dj_database_url

DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", 0))
DATABASE_CONNECTION_DEFAULT_NAME = "default"

DATABASES = {
    DATABASE_CONNECTION_DEFAULT_NAME: dj_database_url.config(
        default="postgres://saleor:saleor@localhost:5432/saleor",
        conn_max_age=DB_CONN_MAX_AGE,
    ),
}
