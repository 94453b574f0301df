# Models mdn/kuma kuma/wsgi.py: the fallback names local settings; the image's ENV wins.
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kuma.settings.local")
