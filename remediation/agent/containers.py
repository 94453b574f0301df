"""Container engines' common host side (stdlib only, part of the host agent): docker and podman
answer `ps` and `inspect` in the same shape, so listing the running containers, their published
ports and the summary the tool keeps of one are defined once here; each engine's probe adds its own."""
import json

from remediation.agent.core import ENV_KEYS, run


def inspected_containers(cli, inspect_args=()):
    """Running containers as engine `cli` (docker, podman) reports them, by the host pid of each
    one's first process (`inspect` State.Pid); {} when the engine has none or does not answer."""
    res = run([cli, "ps", "-q", "--no-trunc"], timeout=30)
    ids = res["stdout"].split() if res["rc"] == 0 else []
    if not ids:
        return {}
    res = run([cli, "inspect", *inspect_args] + ids, timeout=30)
    if res["rc"] != 0:
        return {}
    return {(info.get("State") or {}).get("Pid"): info for info in json.loads(res["stdout"])}


def published_ports(info):
    """{container port: host port} of a container's published TCP ports (`inspect`
    NetworkSettings.Ports): where the host reaches an app listening in the container's own network."""
    out = {}
    for key, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for binding in bindings or []:
            if proto == "tcp" and port.isdigit() and str(binding.get("HostPort") or "").isdigit():
                out[port] = int(binding["HostPort"])
                break
    return out


def container_summary(info, label_prefixes):
    """What the tool needs of one container's `inspect`: its labels (those starting with one of
    `label_prefixes`), mounts, command, the environment variables the tool reads, image and stop settings."""
    config = info.get("Config") or {}
    env = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key in ENV_KEYS:
            env[key] = value
    return {
        "id": info.get("Id"), "name": (info.get("Name") or "").lstrip("/"),
        "labels": {k: v for k, v in (config.get("Labels") or {}).items() if k.startswith(tuple(label_prefixes))},
        "mounts": [{"source": m.get("Source"), "destination": m.get("Destination"), "type": m.get("Type"),
                    "rw": m.get("RW")} for m in info.get("Mounts") or []],
        "working_dir": config.get("WorkingDir"), "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"), "env": env, "image": config.get("Image"), "image_id": info.get("Image"),
        "stop_signal": config.get("StopSignal"), "stop_timeout": config.get("StopTimeout"),
        "started_at": (info.get("State") or {}).get("StartedAt"), "pid": (info.get("State") or {}).get("Pid"),
        "ports": published_ports(info),
    }
