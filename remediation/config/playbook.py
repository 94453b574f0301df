"""Playbooks: the wanted end state plus how to verify it, validated strictly.

An unknown key, a wrong type or a missing field is an InputError naming the file,
the key and the line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediation.config import yamlio
from remediation.errors import InputError
from remediation.model import Target

PLAYBOOK_DIR = Path(__file__).resolve().parent.parent / "playbooks"
DEFAULT_PLAYBOOK = PLAYBOOK_DIR / "gevent-to-gthread.yml"
WORKER_CLASSES = ("gthread", "sync")


@dataclass(frozen=True)
class Field:
    kind: type | tuple
    required: bool = False
    default: Any = None
    choices: tuple | None = None
    auto: bool = False  # the string "auto" is accepted too


SCHEMA: dict[str, Any] = {
    "name": Field(str, required=True),
    "description": Field(str, default=""),
    "gunicorn": {
        "worker_class": Field(str, required=True, choices=WORKER_CLASSES),
        "workers": Field(int, required=True),
        "threads": Field(int, required=True),
        "worker_connections": Field(int, default=1000),
    },
    "django": {
        "conn_max_age": Field(int, required=True),
        "conn_health_checks": Field(bool, required=True),
    },
    "restart": {
        "timeout_s": Field(int, default=60),
    },
    "verify": {
        "path": Field(str, default=None),  # None: each host needs remediation_verify_path
        "port": Field(int, default=None),
        "requests": Field(int, default=30),
        "warmup": Field(int, default="auto", auto=True),
        "timeout_s": Field(int, default=30),  # each verification request's limit (curl --max-time)
        "log_pattern": Field(str, default=None),
        "thresholds": {
            "max_request_ms_p95": Field((int, float), default=None),
            "max_p95_ratio": Field((int, float), default=1.5),
            "max_new_db_connections": Field(int, default="auto", auto=True),
            "max_acquire_ms_p95": Field((int, float), default=10),
        },
    },
}


@dataclass(frozen=True)
class Thresholds:
    max_request_ms_p95: float | None
    max_p95_ratio: float | None
    max_new_db_connections: int | str
    max_acquire_ms_p95: float | None


@dataclass(frozen=True)
class VerifySpec:
    path: str | None
    port: int | None
    requests: int
    warmup: int | str
    timeout_s: int  # seconds each verification request may take (verify/measure.py)
    log_pattern: str | None
    thresholds: Thresholds

    def path_for(self, host_vars: dict) -> str | None:
        """The URL path verification uses on a host: its `remediation_verify_path`, else the
        playbook's; None when neither is set."""
        return str(host_vars.get("remediation_verify_path") or self.path or "") or None

    def concurrency(self, target: Target) -> int:
        """Timed requests in flight at once: what the target serves at once (workers x threads)."""
        return target.workers * max(1, target.threads)

    def warmup_requests(self, target: Target) -> int:
        return target.workers * target.threads if self.warmup == "auto" else int(self.warmup)

    def max_new_connections(self, target: Target) -> int:
        limit = self.thresholds.max_new_db_connections
        return self.concurrency(target) if limit == "auto" else int(limit)

    def count_cannot_fail(self, target: Target) -> str | None:
        """Why the new-connection count could not tell reuse from a connect per request on this
        target, or None. It fails only above its limit, so the timed requests must outnumber it:
        with 10 requests and a limit of 16, an app that still connects per request would pass."""
        limit = self.max_new_connections(target)
        if self.requests > limit:
            return None
        how = (f"workers x threads = {target.workers} x {max(1, target.threads)}"
               if self.thresholds.max_new_db_connections == "auto" else "verify.thresholds.max_new_db_connections")
        return (f"verify.requests {self.requests} is not above the new-connection limit {limit} ({how}): "
                f"a connect per request would pass the count, so it could not prove reuse; set "
                f"verify.requests above {limit}")


def set_path_hint(playbook_path: str) -> str:
    """What to change when a host has no page, or the wrong page, to prove reuse on."""
    return (f"set verify.path in {playbook_path} or the host var remediation_verify_path to a page "
            "that queries the database")


def missing_path_reason(host_name: str, playbook_path: str) -> str:
    """The one line plan, remediate and verify give when a host has no URL to verify on."""
    return f"no URL to verify {host_name} on: {set_path_hint(playbook_path)}"


@dataclass(frozen=True)
class Playbook:
    path: str
    name: str
    description: str
    target: Target
    restart_timeout_s: int
    verify: VerifySpec


def _type_ok(value: Any, field: Field) -> bool:
    if field.auto and value == "auto":
        return True
    kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _expected(field: Field) -> str:
    kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
    names = {str: "a string", int: "a number", float: "a number", bool: "true or false"}
    text = " or ".join(dict.fromkeys(names[k] for k in kinds))
    return text + (' or "auto"' if field.auto else "")


def _validate(data: Any, schema: dict, path: str, prefix: str, line: int | None) -> dict:
    if not isinstance(data, dict):
        raise InputError(f"must be a mapping, not {yamlio.kind(data)}", path, line, prefix.rstrip(".") or None)
    out: dict = {}
    for key in data:
        if key not in schema:
            allowed = ", ".join(schema)
            raise InputError(f"unknown key (allowed here: {allowed})", path, yamlio.line_of(data, key),
                             f"{prefix}{key}")
    for key, spec in schema.items():
        dotted = f"{prefix}{key}"
        if isinstance(spec, dict):
            sub = data.get(key)
            if sub is None:
                if any(isinstance(f, Field) and f.required for f in spec.values()):
                    raise InputError("missing section", path, yamlio.line_of(data), dotted)
                sub = yamlio.MarkedDict()
                sub.key_lines = {}
            out[key] = _validate(sub, spec, path, dotted + ".", yamlio.line_of(data, key))
            continue
        if key not in data or data[key] is None:
            if spec.required:
                # a nested section's key is missing: point at the section's own `name:` line
                raise InputError("missing required key", path, line if prefix and line else yamlio.line_of(data),
                                 dotted)
            out[key] = spec.default
            continue
        value = data[key]
        if not _type_ok(value, spec):
            raise InputError(f"must be {_expected(spec)}, not {yamlio.kind(value)} ({value!r})", path,
                             yamlio.line_of(data, key), dotted)
        if spec.choices and value not in spec.choices:
            raise InputError(f"must be one of {', '.join(spec.choices)}, not {value!r}", path,
                             yamlio.line_of(data, key), dotted)
        out[key] = value
    return out


def _check_values(raw: dict, path: str, data: dict) -> None:
    def fail(message: str, section: str, key: str) -> None:
        raise InputError(message, path, yamlio.line_of(data.get(section, {}), key), f"{section}.{key}")

    g = raw["gunicorn"]
    if not 1 <= g["workers"] <= 256:
        fail("must be between 1 and 256", "gunicorn", "workers")
    if not 1 <= g["threads"] <= 256:
        fail("must be between 1 and 256", "gunicorn", "threads")
    if g["worker_class"] == "sync" and g["threads"] != 1:
        fail("sync with threads > 1 runs as gthread: use worker_class gthread", "gunicorn", "threads")
    if raw["django"]["conn_max_age"] < 0:
        fail("must be 0 or more seconds", "django", "conn_max_age")
    v = raw["verify"]
    if v["path"] is not None and not v["path"].startswith("/"):
        fail("must be an absolute URL path starting with /", "verify", "path")
    if v["requests"] < 1:
        fail("must be at least 1", "verify", "requests")
    if not 1 <= v["timeout_s"] <= 600:
        fail("must be between 1 and 600 seconds (each verification request's limit)", "verify", "timeout_s")
    if v["log_pattern"]:
        try:
            compiled = re.compile(v["log_pattern"])
        except re.error as exc:
            fail(f"not a valid regular expression: {exc}", "verify", "log_pattern")
        if "ms" not in compiled.groupindex:
            fail("needs a named group (?P<ms>...) for the milliseconds", "verify", "log_pattern")


def load_playbook(path: Path | str | None = None) -> Playbook:
    path = Path(path) if path else DEFAULT_PLAYBOOK
    data = yamlio.load_file(path)
    raw = _validate(data, SCHEMA, str(path), "", 1)
    _check_values(raw, str(path), data)
    g, d, v = raw["gunicorn"], raw["django"], raw["verify"]
    t = v["thresholds"]
    return Playbook(
        path=str(path), name=raw["name"], description=raw["description"],
        target=Target(worker_class=g["worker_class"], workers=g["workers"], threads=g["threads"],
                      worker_connections=g["worker_connections"], conn_max_age=d["conn_max_age"],
                      conn_health_checks=d["conn_health_checks"]),
        restart_timeout_s=raw["restart"]["timeout_s"],
        verify=VerifySpec(path=v["path"], port=v["port"], requests=v["requests"], warmup=v["warmup"],
                          timeout_s=v["timeout_s"], log_pattern=v["log_pattern"],
                          thresholds=Thresholds(**t)),
    )
