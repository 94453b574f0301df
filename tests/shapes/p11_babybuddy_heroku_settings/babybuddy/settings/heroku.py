import dj_database_url

from .base import *


# Database
DATABASES = {
    'default': dj_database_url.config(conn_max_age=500)
}

EMAIL_TIMEOUT = 60
