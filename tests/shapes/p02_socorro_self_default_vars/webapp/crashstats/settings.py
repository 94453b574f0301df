import dj_database_url

DATABASES = {
    "default": dj_database_url.config(default="postgres://postgres:postgres@postgresql:5432/socorro")
}
