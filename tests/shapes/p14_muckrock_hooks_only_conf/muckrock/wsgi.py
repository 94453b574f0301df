import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muckrock.settings.local")
