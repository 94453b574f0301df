"""Fleet inspect: each host's live gunicorn setup and what a remediation would change.

Hosts are inspected in parallel on a bounded pool, one SSH connection each. A full
survey asks the app's own interpreter for its effective settings (as `inspect --host`
does); a fast one reads processes and files only and resolves the values statically,
which is what a fleet-wide sweep of hundreds of hosts needs.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from remediation.discovery import audit_files
from remediation.discovery.model import SETTINGS, AuditResult, FindingCode
from remediation.discovery.worker_classes import WorkerKind, classify
from remediation.errors import RemediationError
from remediation.facts.gather import gather
from remediation.plan.inspection import Inspection, discovery_files, hints_for
from remediation.config.inventory import Host
from remediation.errors import HostUnreachable
from remediation.transport.remote import Remote
from remediation.model import Target

STATUSES = ("needs-change", "ok", "manual", "unreachable", "error")


@dataclass
class HostSurvey:
    host: str
    status: str  # one of STATUSES
    values: dict = field(default_factory=dict)  # setting -> effective value (str) or None (default)
    value_source: str = ""  # "app" (the app's interpreter) or "static" (files and command line)
    restart: str | None = None
    live_workers: int | None = None
    live_threads: list[int] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # "file:line setting current -> proposed"
    manual: list[str] = field(default_factory=list)  # places the tool reports instead of patching
    error: str | None = None
    seconds: float = 0.0
    round_trips: int = 0

    def as_json(self) -> dict:
        return asdict(self)


UNKNOWN = "unknown"


def shown_value(finding) -> str | None:
    """The value a finding reads (`APP_WORKER_CLASS=gevent` in a compose file is gevent)."""
    return finding.value if finding.value is not None and finding.current and "$" not in finding.current \
        else finding.current


def static_values(audit: AuditResult) -> dict[str, str | None]:
    """The value each setting has where it is decided (the last live place wins: the command line
    sorts last), from the discovery findings; None when nothing sets it (the default applies).
    Never a confident wrong value: a setting only reported (not read for certain), one computed
    where it runs (`multiprocessing.cpu_count() * 2 + 1`), or one that depends on a variable the
    files do not fix, is marked "unknown (...)"."""
    values: dict[str, str | None] = {name: None for name in SETTINGS}
    reported: dict[str, str] = {}
    for finding in audit.findings:
        if finding.setting not in values:
            continue
        if finding.code == FindingCode.DEAD:
            continue  # overridden by another place: not the value that runs
        if finding.action in ("patch", "ok"):
            if finding.default and values[finding.setting] is not None:
                continue  # "nothing set here" is gunicorn's default only where no other place sets it
            if finding.value is None and finding.current and not finding.default:
                values[finding.setting] = f"{UNKNOWN} ({finding.current})"  # computed where it runs
                continue
            values[finding.setting] = shown_value(finding)
        elif finding.action == "report" and finding.code == FindingCode.KEPT_CLASS and finding.current:
            values[finding.setting] = shown_value(finding)  # an ASGI or custom class: certain, only not patched
        elif finding.action == "report" and finding.code != FindingCode.NOT_PRODUCTION:
            reported.setdefault(finding.setting, finding.current or "")
    for name, value in values.items():
        if value is None and name in reported:
            values[name] = f"{UNKNOWN} ({reported[name]})" if reported[name] else UNKNOWN
        elif value is not None and "$" in value:
            values[name] = f"{UNKNOWN} ({value})"
    return _sync_threads(values)


def _sync_threads(values: dict[str, str | None]) -> dict[str, str | None]:
    """gunicorn runs `sync` with threads > 1 as gthread (its Config.worker_class): the class that
    runs, as gunicorn's own view says it."""
    klass, threads = values.get("worker_class"), (values.get("threads") or "1").strip("'\"")
    if klass is not None and (klass.startswith(UNKNOWN) or classify(klass.strip("'\"")) != WorkerKind.SYNC):
        return values
    if threads.isdigit() and int(threads) > 1:
        return {**values, "worker_class": "gthread"}
    return values


def defaulted(audit: AuditResult) -> set[str]:
    """Settings whose value is gunicorn's default because no file the host holds sets one."""
    return {f.setting for f in audit.findings if f.default and f.code != FindingCode.DEAD}


def unseen_in_image(values: dict[str, str | None], gathered,
                    defaults: AbstractSet[str] = frozenset()) -> dict[str, str | None]:
    """A setting no read file sets (None, or a default in `defaults`) may still be set in a file
    the host cannot read (baked into the container's image): unknown then, not the default."""
    code = gathered.baked
    if code is None:
        return values
    pulled = code.build is None  # no file of the app is on the host, whichever ones were looked for
    if not pulled and not any(path in code.unmapped for path in gathered.baked_needed):
        return values
    return {key: f"{UNKNOWN} (the image's files are not on the host)" if value is None or key in defaults else value
            for key, value in values.items()}


def app_values(ins: Inspection) -> dict[str, str | None]:
    values = {key: (None if value is None else str(value)) for key, value in ins.effective().items()}
    default = ins.gathered.introspection.databases.get("default") or {}
    values["CONN_MAX_AGE"] = None if default.get("CONN_MAX_AGE") is None else str(default["CONN_MAX_AGE"])
    values["CONN_HEALTH_CHECKS"] = (None if default.get("CONN_HEALTH_CHECKS") is None
                                    else str(default["CONN_HEALTH_CHECKS"]))
    return values


DEFAULTS = {"worker_class": "sync", "workers": "1", "threads": "1", "worker_connections": "1000",
            "CONN_MAX_AGE": "0", "CONN_HEALTH_CHECKS": "False"}


def target_values(target: Target) -> dict[str, str]:
    return {"worker_class": target.worker_class, "workers": str(target.workers), "threads": str(target.threads),
            "CONN_MAX_AGE": str(target.conn_max_age), "CONN_HEALTH_CHECKS": str(target.conn_health_checks)}


def off_target(values: dict[str, str | None], target: Target) -> list[str]:
    """Settings whose effective value (None = gunicorn's or Django's default) is not the target's."""
    def norm(key: str, value: str | None) -> str:
        if value is not None and str(value).startswith(UNKNOWN):
            return UNKNOWN
        text = DEFAULTS[key] if value is None else str(value).strip("'\"")
        return classify(text) if key == "worker_class" else text  # gunicorn.workers.gthread.ThreadWorker -> gthread
    return [key for key, want in target_values(target).items() if norm(key, values.get(key)) != want]


def summarize(host: str, ins: Inspection, target: Target, fast: bool) -> HostSurvey:
    findings = ins.audit.findings
    changes = [f"/{f.file}:{f.line or '-'} {f.setting} {f.current} -> {f.proposed}"
               for f in findings if f.action == "patch"]
    manual = [f"/{f.file}:{f.line or '-'} {f.setting}: {f.reason}" for f in findings if f.action == "report"]
    values = unseen_in_image(static_values(ins.audit), ins.gathered, defaulted(ins.audit)) if fast \
        else app_values(ins)
    status = "needs-change" if changes else ("manual" if off_target(values, target) else "ok")
    master = ins.gathered.master
    return HostSurvey(host, status, values, "static" if fast else "app", ins.restart(), len(master.workers),
                      [w.threads for w in master.workers], changes, manual)


class AuditCache:
    """One audit per distinct (files, live facts): a fleet runs the same release on most hosts,
    and the audit is a pure function of its inputs. Audits run under one lock (they are
    CPU-bound, so threads would only take turns anyway)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: dict[str, AuditResult] = {}
        self.hits = 0

    def audit(self, gathered, target: Target) -> AuditResult:
        files = discovery_files(gathered)
        hints = hints_for(gathered)
        digest = hashlib.sha256(repr((sorted(files.items()), target, sorted(vars(hints).items(), key=str)))
                                .encode("utf-8", "surrogateescape")).hexdigest()
        with self.lock:
            if digest in self.results:
                self.hits += 1
            else:
                self.results[digest] = audit_files(files, target, hints)
            return self.results[digest]


def survey_host(host: Host, target: Target, *, fast: bool, accept_new_host_key: bool,
                cache: AuditCache | None = None) -> HostSurvey:
    started = time.perf_counter()
    remote = Remote(host, accept_new_host_key=accept_new_host_key)
    cache = cache or AuditCache()
    try:
        remote.open()
        gathered = gather(remote, want_db=False, introspect=not fast)
        ins = Inspection(host.name, gathered, cache.audit(gathered, target), target)
        result = summarize(host.name, ins, target, fast)
    except HostUnreachable as exc:
        result = HostSurvey(host.name, "unreachable", error=str(exc))
    except RemediationError as exc:
        result = HostSurvey(host.name, "error", error=str(exc))
    finally:
        remote.close()
    result.seconds = round(time.perf_counter() - started, 3)
    result.round_trips = remote.round_trips
    return result


def survey(hosts: list[Host], target: Target, *, fast: bool, forks: int,
           accept_new_host_key: bool = False) -> list[HostSurvey]:
    """Inspect every host, `forks` at a time; one result per host, in inventory order."""
    cache = AuditCache()
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts)))) as pool:
        return list(pool.map(lambda h: survey_host(h, target, fast=fast, accept_new_host_key=accept_new_host_key,
                                                   cache=cache), hosts))
