import dj_database_url

SECRET_KEY = "x"

DATABASES = {
    "default": dj_database_url.config(
        default="postgres://localhost/blog",
        conn_max_age=60,
    ),
    "legacy": dj_database_url.parse("mysql://legacy-db/blog"),
}
