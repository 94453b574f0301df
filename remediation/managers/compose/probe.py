"""The container engine's host side (stdlib only, bundled into the host agent): the container a
master runs in (`docker inspect`), what compose labels it with, which compose CLIs the host has,
and `docker logs` as a log source."""
from remediation.agent.containers import container_summary, inspected_containers
from remediation.agent.core import host_probe, log_kind, master_probe, run
from remediation.agent.processes import mount_ns, shares_root


def engine_containers():
    """Running containers as the docker engine sees them, by the host pid of each one's first
    process; {} without a docker CLI or engine."""
    return inspected_containers("docker")


def container_of(pid, chain, engine, same_root=False):
    """The container a process runs in: None on the host (same mount namespace as pid 1), else
    the id of the container whose first process is it or an ancestor, else None when it sees the
    host's root (`same_root`: a sandboxed service, systemd's PrivateTmp=), else "" (a container
    the engine does not know: its paths are not host paths, and nothing maps them)."""
    mine, host = mount_ns(pid), mount_ns(1)
    if mine is None or mine == host:
        return None, None
    for candidate in chain:
        info = engine.get(candidate)
        if info is not None:
            return info.get("Id"), info
    return (None if same_root else ""), None


def docker_summary(info):
    """What the tool needs of `docker inspect`: compose labels, mounts, the container's config, its ports."""
    return container_summary(info, ("com.docker.compose.",))


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
    if mount_ns(pid) == mount_ns(1):
        return
    cache = context["cache"]
    if "engine" not in cache:
        cache["engine"] = engine_containers()
    master["container"], info = container_of(pid, [pid] + [a["pid"] for a in master["ancestors"]], cache["engine"],
                                             shares_root(pid))
    if info is not None:
        master["docker"] = docker_summary(info)


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
