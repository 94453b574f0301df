"""systemd services: the unit that runs gunicorn, as systemd itself loads it, and its journal.

`systemctl show` (asked by the agent) names the unit's fragment and drop-ins in the order systemd
applies them and its environment files, specifiers expanded: a template's instance
(`gunicorn@shop.service` from `gunicorn@.service`) and an `EnvironmentFile=-/etc/default/%i`
are read where systemd reads them. Without that answer, the unit's name in systemd's directories.
"""
from __future__ import annotations

from remediation.discovery.sources.systemd import UNIT_DIRS
from remediation.errors import RestartError
from remediation.managers.base import Manager, StopBounds, seconds, signal_name, under
from remediation.model import RestartMethod


def unit_files(method: RestartMethod) -> list[str]:
    """The unit file and drop-ins systemd loads, in its order ([] when it was not asked)."""
    shown = method.systemd or {}
    return ([shown["fragment"]] if shown.get("fragment") else []) + list(shown.get("dropins") or [])


def env_files(method: RestartMethod) -> list[str]:
    """The unit's EnvironmentFile= paths, as systemd expanded them (optional ones included)."""
    return [item["path"] for item in (method.systemd or {}).get("env_files") or [] if item.get("path")]


class Systemd(Manager):
    PROBE = "remediation.managers.systemd.probe"
    KIND = "systemd"
    LABEL = "systemd"

    def detect(self, master, compose_clis):
        unit = master.get("systemd_unit")
        if unit and any(a["pid"] == 1 and "systemd" in a["name"] for a in master.get("ancestors", [])):
            shown = master.get("systemd")
            method = RestartMethod(self.KIND, program=(shown or {}).get("id") or unit, systemd=shown)
            method.config_files = unit_files(method) + env_files(method)
            return method
        return None

    def files(self, method):
        """The unit's files where systemd loads them, else wherever systemd may load it from (the
        agent reports the missing ones)."""
        if not method.program:
            return []
        if method.systemd is not None:
            return unit_files(method) + env_files(method)
        return [f"{d}/{method.program}" for d in UNIT_DIRS]

    def more_globs(self, method, files):
        if method.systemd is not None or not method.program:
            return []  # systemd named every drop-in it loads
        return [f"{d}/{method.program}.d/*.conf" for d in UNIT_DIRS]

    def stop_bounds(self, method, files, graceful_timeout):
        """systemd's stop of the unit, as `systemctl show` has it (KillSignal, TimeoutStopUSec,
        KillMode); its defaults (SIGTERM, 90 s, control-group) when it was not asked."""
        stop = (method.systemd or {}).get("stop") or {}
        notes = [] if stop else ["systemctl show was not asked: systemd's defaults"]
        mode = stop.get("KillMode") or "control-group"
        if mode == "control-group":
            notes.append("KillMode=control-group: the workers get the signal with the master")
        timeout = seconds(stop["TimeoutStopUSec"]) if stop.get("TimeoutStopUSec") else 90.0
        return StopBounds(graceful_timeout, signal_name(stop.get("KillSignal")) or "TERM", timeout,
                          f"systemd KillSignal / TimeoutStopSec / KillMode={mode}", notes)

    def log_source(self, method, files):
        return {"kind": "journal", "unit": method.program, "key": "app"} if method.program else None

    def owns_file(self, method, path):
        return under(path, "/etc/systemd") or path in method.config_files

    def restart_argvs(self, method, changed):
        if not method.program:
            raise RestartError("systemd manages gunicorn but its unit was not found")
        units = set(unit_files(method))
        reload = [["systemctl", "daemon-reload"]] if any(
            p in units or (p.endswith((".service", ".conf")) and "/systemd/" in p) for p in changed) else []
        return reload + [["systemctl", "restart", method.program]]
