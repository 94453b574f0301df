"""systemd services: the unit that runs gunicorn, its unit file and drop-ins, its journal."""
from __future__ import annotations

from remediation.discovery.sources.systemd import UNIT_DIRS
from remediation.errors import RestartError
from remediation.managers.base import Manager, under
from remediation.model import RestartMethod


class Systemd(Manager):
    KIND = "systemd"
    LABEL = "systemd"

    def detect(self, master, compose_clis):
        unit = master.get("systemd_unit")
        if unit and any(a["pid"] == 1 and "systemd" in a["name"] for a in master.get("ancestors", [])):
            return RestartMethod(self.KIND, program=unit)
        return None

    def files(self, method):
        """The unit file wherever systemd may load it from (the agent reports the missing ones)."""
        if not method.program:
            return []
        return [f"{d}/{method.program}" for d in UNIT_DIRS]

    def more_globs(self, method, files):
        return [f"{d}/{method.program}.d/*.conf" for d in UNIT_DIRS] if method.program else []

    def log_source(self, method, files):
        return {"kind": "journal", "unit": method.program, "key": "app"} if method.program else None

    def owns_file(self, method, path):
        return under(path, "/etc/systemd")

    def restart_argvs(self, method, changed):
        if not method.program:
            raise RestartError("systemd manages gunicorn but its unit was not found")
        reload = [["systemctl", "daemon-reload"]] if any(p.endswith((".service", ".conf")) and "/systemd/" in p
                                                           for p in changed) else []
        return reload + [["systemctl", "restart", method.program]]
