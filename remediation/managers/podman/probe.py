"""podman's host side (stdlib only, bundled into the host agent): the container a master runs in,
as podman itself reports it (`podman ps`, `podman inspect`: its mounts, command, environment,
labels such as PODMAN_SYSTEMD_UNIT, stop signal and timeout), and `podman logs` as a log source.
Podman has no daemon: the CLI reads the engine's state itself, so no socket is asked."""
from remediation.agent.containers import container_summary, inspected_containers
from remediation.agent.core import log_kind, master_probe, run
from remediation.agent.processes import mount_ns

LABELS = ("PODMAN_SYSTEMD_UNIT", "io.podman.compose.", "com.docker.compose.", "io.containers.autoupdate")


def podman_containers():
    """Running containers by the host pid of each one's first process (`podman inspect`
    State.Pid); {} without a podman CLI or container."""
    import shutil

    return inspected_containers("podman", ("--type", "container")) if shutil.which("podman") else {}


def podman_summary(info):
    """What the tool needs of `podman inspect`: the engines' common summary, plus how podman
    restarts it (restart policy, the systemd unit that runs it, its create command and pod)."""
    config, host = info.get("Config") or {}, info.get("HostConfig") or {}
    summary = container_summary(info, LABELS)
    summary["image"] = summary["image"] or info.get("ImageName")
    summary.update({"restart_policy": (host.get("RestartPolicy") or {}).get("Name") or None,
                    "create_command": config.get("CreateCommand"), "pod": info.get("Pod") or None})
    return summary


@master_probe
def probe_podman(master, context):
    """The podman container a master runs in (the master or an ancestor is a container's first
    process), when its mount namespace is not the host's; podman is asked once per probe."""
    pid = master["pid"]
    if mount_ns(pid) == mount_ns(1):
        return
    cache = context["cache"]
    if "podman" not in cache:
        cache["podman"] = podman_containers()
    for candidate in [pid] + [a["pid"] for a in master["ancestors"]]:
        info = cache["podman"].get(candidate)
        if info is not None:
            master["podman"] = podman_summary(info)
            return


@log_kind("podman")
def podman_log(item, req):
    """A container's output (`podman logs`, whatever its log driver): its last lines, or since a time."""
    argv = ["podman", "logs"]
    if item.get("since"):
        argv += ["--since", "%.3f" % item["since"]]
    else:
        argv += ["--tail", str(req.get("lines", 400))]
    res = run(argv + [item["container"]], timeout=30)
    return res["stdout"] + res["stderr"]
