"""systemd as one unit: `probe.py` runs on the host (bundled into the agent), `controller.py` is
the controller side (its unit files, its journal, its restart)."""
from remediation.managers.systemd.controller import Systemd, env_files, unit_files

__all__ = ["Systemd", "env_files", "unit_files"]
