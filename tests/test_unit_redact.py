"""Secrets never reach a report: redact() on settings lines, URLs, env files, YAML and diffs."""
from __future__ import annotations

import time

import pytest

from remediation.redact import MASK, redact

SECRET = "hunter2-Xq9"


@pytest.mark.parametrize("line, expected", [
    # Django DATABASES dict lines
    (f"        'PASSWORD': '{SECRET}',", f"        'PASSWORD': '{MASK}',"),
    (f'        "PASSWORD": "{SECRET}",', f'        "PASSWORD": "{MASK}",'),
    (f"'PASSWORD':'{SECRET}'", f"'PASSWORD':'{MASK}'"),
    (f"DATABASES = {{'default': {{'ENGINE': 'x', 'PASSWORD': '{SECRET}', 'HOST': 'db'}}}}",
     f"DATABASES = {{'default': {{'ENGINE': 'x', 'PASSWORD': '{MASK}', 'HOST': 'db'}}}}"),
    (f"DATABASES['default']['PASSWORD'] = '{SECRET}'", f"DATABASES['default']['PASSWORD'] = '{MASK}'"),
    # values holding the other quote, escapes, string prefixes, triple quotes
    ("'PASSWORD': 'pa\"ss',", f"'PASSWORD': '{MASK}',"),
    ("SECRET_KEY = \"abc'def\"", f'SECRET_KEY = "{MASK}"'),
    ("'PASSWORD': 'it\\'s',", f"'PASSWORD': '{MASK}',"),
    (f"'PASSWORD': r'{SECRET}',", f"'PASSWORD': r'{MASK}',"),
    (f"'PASSWORD': b'{SECRET}',", f"'PASSWORD': b'{MASK}',"),
    (f"PASSWORD = '''{SECRET}'''", f"PASSWORD = '''{MASK}'''"),
    # URLs with credentials
    (f"DATABASE_URL=postgres://app:{SECRET}@db:5432/app", f"DATABASE_URL=postgres://app:{MASK}@db:5432/app"),
    (f"DATABASE_URL = 'postgresql+psycopg://app:{SECRET}@10.0.0.5/app'",
     f"DATABASE_URL = 'postgresql+psycopg://app:{MASK}@10.0.0.5/app'"),
    (f"default=dj_database_url.config(default='mysql://root:{SECRET}@127.0.0.1:3306/app')",
     f"default=dj_database_url.config(default='mysql://root:{MASK}@127.0.0.1:3306/app')"),
    (f"CACHE_URL = 'redis://:{SECRET}@cache:6379/0'", f"CACHE_URL = 'redis://:{MASK}@cache:6379/0'"),
    (f"BROKER = 'redis://default:{SECRET}@cache:6379/1'", f"BROKER = 'redis://default:{MASK}@cache:6379/1'"),
    ("url: postgres://app:p@ss:w@rd@db/app", f"url: postgres://app:{MASK}@db/app"),
    # env-style assignments
    (f"DB_PASSWORD={SECRET}", f"DB_PASSWORD={MASK}"),
    (f"export POSTGRES_PASSWORD='{SECRET} with spaces'", f"export POSTGRES_PASSWORD='{MASK}'"),
    (f"AWS_SECRET_ACCESS_KEY={SECRET} OTHER=1", f"AWS_SECRET_ACCESS_KEY={MASK} OTHER=1"),
    (f'environment=DB_PASSWORD="{SECRET},x",DJANGO_SETTINGS_MODULE="app.settings"',
     f'environment=DB_PASSWORD="{MASK}",DJANGO_SETTINGS_MODULE="app.settings"'),
    (f"GITHUB_TOKEN: {SECRET}", f"GITHUB_TOKEN: {MASK}"),
    # YAML
    (f"password: {SECRET}", f"password: {MASK}"),
    (f'    password: "{SECRET}"  # rotate me', f'    password: "{MASK}"  # rotate me'),
    (f"      - MYSQL_ROOT_PASSWORD={SECRET}", f"      - MYSQL_ROOT_PASSWORD={MASK}"),
    # Django's SECRET_KEY
    (f"SECRET_KEY = 'django-insecure-{SECRET}!@#$%^&*(-_=+)'", f"SECRET_KEY = '{MASK}'"),
    (f'SECRET_KEY = "{SECRET}"', f'SECRET_KEY = "{MASK}"'),
])
def test_secrets_are_masked(line, expected):
    out = redact(line)
    assert out == expected
    assert SECRET not in out


@pytest.mark.parametrize("line", [
    "'PASSWORD': os.environ['DB_PASSWORD'],",
    '"PASSWORD": os.environ["DB_PASSWORD"],',
    "'PASSWORD': os.environ.get('DB_PASSWORD'),",
    "'PASSWORD': os.getenv('DB_PASSWORD'),",
    "PASSWORD = env('DB_PASSWORD')",
    "'PASSWORD': env(\"X\"),",
    "SECRET_KEY = os.environ['SECRET_KEY']",
    "DATABASES = {'default': env.db('DATABASE_URL')}",
    "postgres://app@db:5432/app",
    "DATABASE_URL=postgres://db:5432/app",
    "http://127.0.0.1:8000/api/schools/primary/",
    "https://example.com/a:b@c",
    "'CONN_MAX_AGE': 600,",
    "CONN_HEALTH_CHECKS = True",
    "worker_class = 'gevent'",
    "bind = '0.0.0.0:8000'",
    "AUTH_PASSWORD_VALIDATORS = [",
    "PASSWORD_HASHERS = ['django.contrib.auth.hashers.Argon2PasswordHasher']",
    "ALLOWED_HOSTS = ['*']",
    "[SQL_DEBUG] 连接获取耗时: 1023.61ms new=1 conn_id=16335 health_check=0.10ms",
    "",
])
def test_ordinary_text_is_left_alone(line):
    assert redact(line) == line


def test_every_secret_on_one_line_is_masked():
    line = f"'PASSWORD': '{SECRET}', 'USER': 'app', 'TOKEN': '{SECRET}2'"
    assert redact(line) == f"'PASSWORD': '{MASK}', 'USER': 'app', 'TOKEN': '{MASK}'"


SETTINGS_DIFF = f"""\
--- a/srv/app/schoolsite/settings.py
+++ b/srv/app/schoolsite/settings.py
@@ -18,11 +18,12 @@ SECRET_KEY = 'django-insecure-{SECRET}'
 DATABASES = {{
     'default': {{
         'ENGINE': 'django.db.backends.postgresql',
         'NAME': 'schools',
         'USER': 'app',
-        'PASSWORD': '{SECRET}',
+        'PASSWORD': '{SECRET}',
         'HOST': '10.77.0.1',
-        'CONN_MAX_AGE': 0,
+        'CONN_MAX_AGE': 600,
+        'CONN_HEALTH_CHECKS': True,
     }}
 }}
 CACHE_URL = 'redis://:{SECRET}@127.0.0.1:6379/0'
--- a/srv/app/.env
+++ b/srv/app/.env
@@ -1,2 +1,2 @@
-GUNICORN_CMD_ARGS=--worker-class gevent
+GUNICORN_CMD_ARGS=--worker-class gthread
 DB_PASSWORD={SECRET}
"""


def test_unified_diff_keeps_its_structure_and_loses_the_secret():
    out = redact(SETTINGS_DIFF)
    assert SECRET not in out
    before, after = SETTINGS_DIFF.splitlines(), out.splitlines()
    assert len(before) == len(after)
    for old, new in zip(before, after):
        assert old[:1] == new[:1]  # ' ', '-', '+', '@' prefixes survive
        if SECRET not in old:
            assert new == old  # lines without secrets are byte-identical
    assert after[0] == "--- a/srv/app/schoolsite/settings.py"
    assert after[2] == f"@@ -18,11 +18,12 @@ SECRET_KEY = '{MASK}'"
    assert f"-        'PASSWORD': '{MASK}'," in after and f"+        'PASSWORD': '{MASK}'," in after
    assert f" CACHE_URL = 'redis://:{MASK}@127.0.0.1:6379/0'" in after
    assert after[-1] == f" DB_PASSWORD={MASK}"
    assert out.endswith("\n")


@pytest.mark.parametrize("text", [
    "a" * 200_000,
    "PASSWORD='" + "a" * 50_000,
    "PASSWORD='" + "\\" * 50_000,
    ("'PASSWORD': '" + "x" * 2_000 + "\n") * 100,
    "postgres://" + "u" * 50_000 + ":" + "p" * 50_000,
    "x" * 100_000 + "PASSWORD=" + SECRET,
])
def test_long_or_unterminated_input_is_linear_time(text):
    started = time.monotonic()
    out = redact(text)
    assert time.monotonic() - started < 2  # quadratic matching took minutes here
    assert SECRET not in out
