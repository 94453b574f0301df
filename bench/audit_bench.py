"""Benchmark: `audit --path` over a generated 2,000-file checkout (target: under 2 s).

Run: .venv/bin/python bench/audit_bench.py [--files N] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remediation.audit import audit_path  # noqa: E402
from remediation.model import Target  # noqa: E402

MODULE = '''"""{name}: generated module."""
from django.db import models


class {cls}(models.Model):
    name = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


def helper_{n}(value):
    # worker_class = "gevent" is only a comment here
    return [v * 2 for v in range(value)]
'''
SETTINGS = '''import os
import dj_database_url

DEBUG = False
DATABASES = {{
    "default": dj_database_url.config(default="postgres:///app{n}", conn_max_age={age}),
    "replica": {{"ENGINE": "django.db.backends.postgresql", "NAME": "r{n}", "CONN_MAX_AGE": 0}},
}}
'''
GUNICORN = '''import os
bind = "0.0.0.0:{port}"
worker_class = os.environ.get("WORKER_CLASS", "gevent")
workers = int(os.getenv("WEB_CONCURRENCY", {workers}))
threads = 16
'''
COMPOSE = '''services:
  web{n}:
    image: app:{n}
    command: gunicorn -c conf/gunicorn_{n}.py app{n}.wsgi --worker-class gevent
    environment:
      DJANGO_SETTINGS_MODULE: app{n}.settings
      GUNICORN_CMD_ARGS: "--timeout 60 --threads 4"
  redis{n}:
    image: redis:7
'''
K8S = '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{n}
spec:
  template:
    spec:
      containers:
        - name: app
          image: svc:{n}
          args: ["--port", "80{n:02d}"]
'''
SUPERVISOR = '''[program:web{n}]
command=/venv/bin/gunicorn
    -k gevent -w 4
    app{n}.wsgi
directory=/srv/app{n}
'''
SHELL = '''#!/bin/sh
set -e
python manage.py migrate
exec gunicorn app{n}.wsgi -k eventlet --workers ${{WORKERS:-3}} "$@"
'''
DOCKERFILE = '''FROM python:3.12-slim
WORKDIR /app
COPY . .
CMD ["gunicorn", "-k", "gevent", "-w", "4", "app{n}.wsgi"]
'''


def generate(root: Path, total: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    count = 0

    def write(rel: str, text: str) -> None:
        nonlocal count
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        count += 1

    for n in range(20):
        write(f"app{n}/__init__.py", "")
        write(f"app{n}/settings.py", SETTINGS.format(n=n, age=rng.choice([0, 60, 600])))
        write(f"app{n}/wsgi.py", f'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "app{n}.settings")\n')
        write(f"conf/gunicorn_{n}.py", GUNICORN.format(port=8000 + n, workers=rng.randint(2, 9)))
        write(f"deploy/compose/docker-compose.{n}.yml", COMPOSE.format(n=n))
        write(f"deploy/supervisor/web{n}.conf", SUPERVISOR.format(n=n))
        write(f"deploy/bin/start{n}.sh", SHELL.format(n=n))
        write(f"deploy/docker/Dockerfile.{n}", DOCKERFILE.format(n=n))
        write(f"deploy/k8s/svc{n}.yaml", K8S.format(n=n))
    kinds = ["py", "py", "py", "py", "html", "js", "md", "txt", "yaml", "css"]
    n = 0
    while count < total:
        kind = rng.choice(kinds)
        pkg = f"src/pkg{n % 40}"
        if kind == "py":
            write(f"{pkg}/mod{n}.py", MODULE.format(name=f"mod{n}", cls=f"Model{n}", n=n))
        elif kind == "yaml":
            write(f"{pkg}/data{n}.yaml", f"key{n}: value\nlist:\n  - a\n  - b\n")
        else:
            write(f"{pkg}/file{n}.{kind}", f"<!-- file {n} -->\n" + "lorem ipsum dolor\n" * 20)
        n += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    try:
        files = generate(root, args.files)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            result = audit_path(root, Target())
            runs.append(time.perf_counter() - start)
        actions = {a: sum(f.action == a for f in result.findings) for a in ("patch", "report", "ok")}
        best = min(runs)
        print(f"audit_bench: {files} files, {len(result.findings)} findings {actions}, "
              f"{len(result.patched)} files patched")
        print(f"audit_bench: best {best:.2f} s, runs " + ", ".join(f"{r:.2f}" for r in runs)
              + f" (target < 2 s: {'ok' if best < 2 else 'SLOW'})")
    finally:
        if args.keep:
            print(f"tree kept at {root}")
        else:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
