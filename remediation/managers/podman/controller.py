"""podman: a container no daemon runs, recognised from `podman inspect` (its own facts).

Two shapes real deployments use with podman 4.3 (Debian 12; quadlet needs 4.4): a systemd unit
that runs the container (`podman generate systemd --new`: ExecStart=/usr/bin/podman run ...,
the container labelled PODMAN_SYSTEMD_UNIT=<unit>), restarted by `systemctl restart <unit>`,
which recreates it from the unit's command; or a plain `podman run -d --restart ...`,
restarted by `podman restart` (same container, same command and environment). Either way the
code and config the fix changes are host files mounted into the container (its mounts map
container paths to host paths); an image with the code baked in is not handled here."""
from __future__ import annotations

from remediation.errors import RestartError
from remediation.managers.base import Manager, StopBounds, seconds, signal_name
from remediation.model import RestartMethod

UNIT_LABEL = "PODMAN_SYSTEMD_UNIT"


def podman_facts(master: dict) -> dict | None:
    facts = master.get("podman")
    return facts if isinstance(facts, dict) and facts.get("id") else None


class Podman(Manager):
    PROBE = "remediation.managers.podman.probe"
    KIND = "podman"
    LABEL = "podman"
    INVENTORY_VARS = ("remediation_podman_container",)
    ENGINE = "podman"

    def detect(self, master, compose_clis):
        facts = podman_facts(master)
        if facts is None:
            return None
        unit = (facts.get("labels") or {}).get(UNIT_LABEL)
        return RestartMethod(self.KIND, program=facts.get("name"), container=facts["id"], image=facts.get("image"),
                             image_id=facts.get("image_id"), working_dir=facts.get("working_dir"),
                             project=unit, code="mounted",
                             stop={"signal": facts.get("stop_signal"), "timeout": facts.get("stop_timeout")})

    def engine_facts(self, master: dict) -> dict:
        return podman_facts(master) or {}

    def log_source(self, method, files):
        return {"kind": "podman", "container": method.container, "key": "app"}

    def stop_bounds(self, method, files, graceful_timeout):
        """podman's stop of the container (`--stop-signal`, `--stop-timeout`; podman inspect prints the
        signal as a number): SIGTERM and 10 s when unset."""
        stop = method.stop or {}
        timeout = stop.get("timeout")
        return StopBounds(graceful_timeout, signal_name(str(stop["signal"]) if stop.get("signal") else None) or "TERM",
                          seconds(timeout) if timeout is not None else 10.0,
                          "podman run --stop-signal / --stop-timeout (podman inspect StopSignal, StopTimeout)")

    def check_inventory(self, method, host_vars):
        name = host_vars.get("remediation_podman_container")
        if name and method.program and name not in (method.program, method.container):
            return [f"podman runs gunicorn in container {method.program!r}, the inventory says {name!r}"]
        return []

    def restart_argvs(self, method, changed):
        """The unit's restart when systemd runs the container (it is recreated from the unit's own
        `podman run`), else `podman restart` of the same container."""
        if not method.container:
            raise RestartError("podman runs gunicorn but the container's id was not found")
        if method.project:
            return [["systemctl", "restart", method.project]]
        timeout = (method.stop or {}).get("timeout")
        return [["podman", "restart", "--time", str(int(timeout if timeout is not None else 10)), method.container]]
