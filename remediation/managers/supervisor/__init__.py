"""supervisord as one unit: `probe.py` runs on the host (bundled into the agent), `controller.py`
is the controller side (its files, its log, its restart)."""
from remediation.managers.supervisor.controller import (SETTLE_SCRIPT, Supervisor, gunicorn_log, includes,
                                                        program_in_status, program_log)

__all__ = ["SETTLE_SCRIPT", "Supervisor", "gunicorn_log", "includes", "program_in_status", "program_log"]
