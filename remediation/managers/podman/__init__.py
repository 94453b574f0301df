"""podman as one unit: `probe.py` runs on the host (bundled into the agent), `controller.py` is the
controller side (the container's mounts, `podman restart` or its systemd unit's restart, `podman logs`)."""
from remediation.managers.podman.controller import Podman

__all__ = ["Podman"]
