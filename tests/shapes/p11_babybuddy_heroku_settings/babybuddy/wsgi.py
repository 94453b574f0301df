import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "babybuddy.settings.development")
