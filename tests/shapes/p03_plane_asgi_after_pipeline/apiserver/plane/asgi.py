import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plane.settings.production")
