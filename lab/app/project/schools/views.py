"""The incident's endpoint, instrumented like the incident's own SQL_DEBUG logging.

Each request logs one line with the time spent acquiring a database connection
(``connection.ensure_connection()``: zero when the thread already holds an open
connection, a full connect otherwise), the time of Django's health check when
CONN_HEALTH_CHECKS is on, and the server-side id of the connection that served it.
"""
import logging
import os
import threading
import time

from django.db import connection
from django.db.models import Sum
from django.http import JsonResponse

from .models import School

log = logging.getLogger("schools.sql")


def _server_connection_id():
    """The database server's id for this connection (PostgreSQL backend pid, MySQL thread id)."""
    raw = connection.connection
    if connection.vendor == "postgresql":
        return raw.info.backend_pid
    if connection.vendor == "mysql":
        return raw.thread_id()
    return None


def primary_schools(request):
    started = time.perf_counter()
    reused = connection.connection is not None
    health_check = getattr(connection, "close_if_health_check_failed", None)  # Django 4.1+
    if health_check is not None:
        health_check()
    checked = time.perf_counter()
    connection.ensure_connection()
    acquired = time.perf_counter()
    health_ms = (checked - started) * 1000
    acquire_ms = (acquired - checked) * 1000
    conn_id = _server_connection_id()
    rows = School.objects.filter(level="primary")
    total = rows.aggregate(pupils=Sum("pupils"))["pupils"]
    log.info(
        "[SQL_DEBUG] 连接获取耗时: %.2fms new=%d conn_id=%s health_check=%.2fms pid=%d thread=%s",
        acquire_ms, 0 if reused else 1, conn_id, health_ms, os.getpid(), threading.get_ident(),
    )
    return JsonResponse(
        {
            "level": "primary",
            "pupils": total,
            "acquire_ms": round(acquire_ms, 3),
            "health_check_ms": round(health_ms, 3),
            "new_connection": not reused,
            "db_connection_id": conn_id,
            "worker_pid": os.getpid(),
        }
    )


def healthz(request):
    return JsonResponse({"ok": True})


def pupils(request):
    """An app's own endpoint that logs nothing: one query, and the connection's server-side id
    (what the lab reads from outside the tool to see whether connections are reused)."""
    total = School.objects.aggregate(pupils=Sum("pupils"))["pupils"]
    return JsonResponse({"pupils": total, "db_connection_id": _server_connection_id(), "worker_pid": os.getpid()})
