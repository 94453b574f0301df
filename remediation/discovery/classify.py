"""Which locator reads which file, decided from the name and a cheap look at the text."""

from __future__ import annotations

import posixpath
from typing import Optional

from remediation.discovery.sources.jinja import TEMPLATE_SUFFIXES

MARKERS = ("gunicorn", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "DJANGO_SETTINGS_MODULE",
           "uwsgi", "uvicorn", "granian", "daphne", "hypercorn", "waitress-serve")
SHELL_SHEBANGS = ("sh", "bash", "dash", "ash", "zsh", "ksh")
ENV_DIRS = {".envs", "envs", "env", ".env"}


def strip_template_suffix(path: str) -> str:
    for suffix in TEMPLATE_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def kind_of(path: str, text: str) -> Optional[str]:
    """'dockerfile', 'yaml', 'supervisor', 'systemd', 'procfile', 'env', 'shell', 'python',
    'uwsgi', 'requirements' or None (not interesting)."""
    bare = strip_template_suffix(path)
    name = posixpath.basename(bare)
    lower = name.lower()
    parts = set(posixpath.dirname(bare).split("/"))
    if lower.endswith(".py") or lower.endswith(".pyw"):
        return "python"
    if lower in ("dockerfile", "containerfile") or lower.startswith(("dockerfile.", "dockerfile-")) or lower.endswith(".dockerfile"):
        return "dockerfile"
    if lower == "procfile" or lower.startswith("procfile."):
        return "procfile"
    if lower.endswith(".service") or (lower.endswith(".conf") and posixpath.dirname(bare).endswith(".service.d")):
        return "systemd"  # a unit file, or a drop-in of one
    if lower.endswith((".yml", ".yaml")):
        return "yaml"
    if lower.endswith((".ini", ".conf", ".cfg")):
        if "[uwsgi]" in text:
            return "uwsgi"
        if "[program:" in text or "[supervisord]" in text or "[fcgi-program:" in text:
            return "supervisor"
        if "gunicorn" in lower:
            return "python-maybe"  # gunicorn.conf / gunicorn.ini are often Python
        return None
    if lower.startswith(".env") or lower.endswith(".env") or parts & ENV_DIRS:
        return "env"
    if lower.endswith((".sh", ".bash")):
        return "shell"
    first = text.split("\n", 1)[0]
    if first.startswith("#!"):
        interpreter = first[2:].strip().split()
        words = [posixpath.basename(w) for w in interpreter]
        if any(w in SHELL_SHEBANGS for w in words):
            return "shell"
        if any(w.startswith("python") for w in words):
            return "python"
    if "gunicorn" in lower and "." not in name:
        return "python-maybe"
    return None


def interesting(kind: str, text: str) -> bool:
    """Cheap pre-filter: skip files that cannot mention anything we look for."""
    if kind in ("python", "python-maybe", "requirements", "env"):
        return True
    if kind == "yaml" and any(k in text for k in ("CONN_", "environment:", "env_file", "env:")):
        return True
    return any(m in text for m in MARKERS)
