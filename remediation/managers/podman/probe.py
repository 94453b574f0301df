"""podman's host side (stdlib only, bundled into the host agent): the container a master runs in,
as podman itself reports it (`podman ps`, `podman inspect`: its mounts, command, environment,
labels such as PODMAN_SYSTEMD_UNIT, stop signal and timeout), and `podman logs` as a log source.
Podman has no daemon: the CLI reads the engine's state itself, so no socket is asked."""
import json

from remediation.agent.core import ENV_KEYS, log_kind, master_probe, run
from remediation.agent.processes import host_filesystem

LABELS = ("PODMAN_SYSTEMD_UNIT", "io.podman.compose.", "com.docker.compose.", "io.containers.autoupdate")


def podman_containers():
    """Running containers by the host pid of each one's first process (`podman inspect`
    State.Pid); {} without a podman CLI or container."""
    import shutil

    if not shutil.which("podman"):
        return {}
    res = run(["podman", "ps", "-q", "--no-trunc"], timeout=30)
    ids = res["stdout"].split() if res["rc"] == 0 else []
    if not ids:
        return {}
    res = run(["podman", "inspect", "--type", "container"] + ids, timeout=30)
    if res["rc"] != 0:
        return {}
    return {(info.get("State") or {}).get("Pid"): info for info in json.loads(res["stdout"])}


def podman_ports(info):
    """{container port: host port} of the published TCP ports (NetworkSettings.Ports, as docker's)."""
    out = {}
    for key, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for binding in bindings or []:
            if proto == "tcp" and port.isdigit() and str(binding.get("HostPort") or "").isdigit():
                out[port] = int(binding["HostPort"])
                break
    return out


def podman_summary(info):
    """What the tool needs of `podman inspect`: mounts, the container's config, its labels and how
    it is restarted (restart policy, the systemd unit that runs it) and stopped."""
    config, host = info.get("Config") or {}, info.get("HostConfig") or {}
    env = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key in ENV_KEYS:
            env[key] = value
    return {
        "id": info.get("Id"), "name": (info.get("Name") or "").lstrip("/"),
        "labels": {k: v for k, v in (config.get("Labels") or {}).items() if k.startswith(LABELS)},
        "mounts": [{"source": m.get("Source"), "destination": m.get("Destination"), "type": m.get("Type"),
                    "rw": m.get("RW")} for m in info.get("Mounts") or []],
        "working_dir": config.get("WorkingDir"), "cmd": config.get("Cmd"), "entrypoint": config.get("Entrypoint"),
        "env": env, "image": config.get("Image") or info.get("ImageName"), "image_id": info.get("Image"),
        "stop_signal": config.get("StopSignal"), "stop_timeout": config.get("StopTimeout"),
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name") or None,
        "create_command": config.get("CreateCommand"), "pod": info.get("Pod") or None,
        "started_at": (info.get("State") or {}).get("StartedAt"), "pid": (info.get("State") or {}).get("Pid"),
        "ports": podman_ports(info),
    }


@master_probe
def probe_podman(master, context):
    """The podman container a master runs in (the master or an ancestor is a container's first
    process), when it does not see the host's filesystem (host_filesystem); podman is asked once
    per probe."""
    pid = master["pid"]
    if host_filesystem(pid):
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
