import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dojo.settings.settings")
