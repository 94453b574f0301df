"""The container engine's host side (stdlib only, bundled into the host agent): the container a
master runs in (`docker inspect`), what compose labels it with, which compose CLIs the host has,
and `docker logs` as a log source."""
import json

from remediation.agent.core import ENV_KEYS, host_probe, log_kind, master_probe, run
from remediation.agent.processes import host_filesystem


def engine_containers():
    """Running containers as the engine sees them, by the host pid of each one's first process
    (`docker inspect` State.Pid); {} without a docker CLI or engine."""
    res = run(["docker", "ps", "-q", "--no-trunc"], timeout=30)
    ids = res["stdout"].split() if res["rc"] == 0 else []
    if not ids:
        return {}
    res = run(["docker", "inspect"] + ids, timeout=30)
    if res["rc"] != 0:
        return {}
    return {(info.get("State") or {}).get("Pid"): info for info in json.loads(res["stdout"])}


def container_of(pid, chain, engine):
    """The container a process runs in: None on the host (host_filesystem: pid 1's mount namespace,
    or a systemd unit's own over the same root), else the id of the container whose first process
    is it or an ancestor, else "" (a container the engine does not know: its paths are not host
    paths, and nothing maps them)."""
    if host_filesystem(pid):
        return None, None
    for candidate in chain:
        info = engine.get(candidate)
        if info is not None:
            return info.get("Id"), info
    return "", None


def published_ports(info):
    """{container port: host port} of a container's published TCP ports (`docker inspect`
    NetworkSettings.Ports): where the host reaches an app listening in the container's own network."""
    out = {}
    for key, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for binding in bindings or []:
            if proto == "tcp" and port.isdigit() and str(binding.get("HostPort") or "").isdigit():
                out[port] = int(binding["HostPort"])
                break
    return out


def docker_summary(info):
    """What the tool needs of `docker inspect`: compose labels, mounts, and the container's config."""
    config = info.get("Config") or {}
    env = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key in ENV_KEYS:
            env[key] = value
    return {
        "id": info.get("Id"), "name": info.get("Name", "").lstrip("/"),
        "labels": {k: v for k, v in (config.get("Labels") or {}).items() if k.startswith("com.docker.compose.")},
        "mounts": [{"source": m.get("Source"), "destination": m.get("Destination"), "type": m.get("Type"),
                    "rw": m.get("RW")} for m in info.get("Mounts") or []],
        "working_dir": config.get("WorkingDir"), "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"), "env": env, "image": config.get("Image"), "image_id": info.get("Image"),
        "stop_signal": config.get("StopSignal"), "stop_timeout": config.get("StopTimeout"),
        "started_at": (info.get("State") or {}).get("StartedAt"), "pid": (info.get("State") or {}).get("Pid"),
    }


COMPOSE_CLIS = []  # this agent's answer, kept for its later probes


def compose_clis():
    if COMPOSE_CLIS:
        return COMPOSE_CLIS[0]
    found = {}
    import shutil

    standalone = shutil.which("docker-compose")
    if standalone:  # its path, not its version: the Python one (v1) takes ~0.5 s of CPU to say it
        found["docker-compose"] = standalone
    if shutil.which("docker"):
        res = run(["docker", "compose", "version", "--short"], timeout=20)
        if res["rc"] == 0:
            found["docker compose"] = res["stdout"].strip()
    COMPOSE_CLIS.append(found)
    return found


@master_probe
def probe_container(master, context):
    """The container a master runs in, when its mount namespace is not the host's (the engine is
    asked once per probe)."""
    pid = master["pid"]
    if host_filesystem(pid):
        return
    cache = context["cache"]
    if "engine" not in cache:
        cache["engine"] = engine_containers()
    master["container"], info = container_of(pid, [pid] + [a["pid"] for a in master["ancestors"]], cache["engine"])
    if info is not None:
        master["docker"] = docker_summary(info)
        master["docker"]["ports"] = published_ports(info)


@host_probe
def probe_compose_clis(masters):
    """The compose CLIs of the host, when a master runs in a container."""
    return {"compose_clis": compose_clis() if any(m["container"] is not None for m in masters) else {}}


@log_kind("docker")
def docker_log(item, req):
    """A container's output: its last lines, or what it wrote since a time."""
    argv = ["docker", "logs"]
    if item.get("since"):
        argv += ["--since", "%.3f" % item["since"]]
    else:
        argv += ["--tail", str(req.get("lines", 400))]
    res = run(argv + [item["container"]], timeout=30)
    return res["stdout"] + res["stderr"]
