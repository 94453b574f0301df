from django.apps import AppConfig


class SchoolsConfig(AppConfig):
    name = "schools"
    default_auto_field = "django.db.models.AutoField"
