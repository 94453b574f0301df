"""docker-compose and plain docker as one unit: `probe.py` runs on the host (bundled into the
agent), `controller.py` is the controller side (the project's files, `up -d`, the baked image)."""
from remediation.managers.compose.controller import (Compose, PlainDocker, baked_change, compose_cli, compose_labels,
                                                     project_argv)

__all__ = ["Compose", "PlainDocker", "baked_change", "compose_cli", "compose_labels", "project_argv"]
