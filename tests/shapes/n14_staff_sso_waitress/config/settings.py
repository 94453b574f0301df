# Models uktrade/staff-sso config/settings.py: dj-database-url without conn_max_age.
import dj_database_url

DATABASES = {"default": dj_database_url.config(default="postgres://localhost/staff_sso")}
