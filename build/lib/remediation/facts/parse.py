"""Facts about one host, parsed from the agent's probe (pure functions, no I/O).

A fact is what is true on the host now: the gunicorn master and its workers, the
command line it really runs, the restart method that manages it, and where its files
live on the host (container paths are mapped through the container's mounts).
"""
from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from remediation.discovery.cmdline import config_reference

SUPERVISOR_STATUS = re.compile(r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)\s+(?:pid (?P<pid>\d+),)?")


@dataclass
class Worker:
    pid: int
    threads: int


@dataclass
class RestartMethod:
    kind: str  # "supervisor" | "docker-compose" | "systemd" | "docker" | "unknown"
    program: str | None = None  # supervisor program / compose service / systemd unit
    config_files: list[str] = field(default_factory=list)  # supervisor conf / compose files (host paths)
    project: str | None = None
    working_dir: str | None = None
    container: str | None = None
    cli: list[str] = field(default_factory=list)  # compose CLI argv prefix


@dataclass
class Mount:
    source: str
    destination: str
    rw: bool = True


@dataclass
class GunicornMaster:
    pid: int
    argv: list[str]
    user: str
    uid: int
    cwd: str | None
    exe: str | None
    env: dict[str, str]
    workers: list[Worker]
    restart: RestartMethod
    mounts: list[Mount] = field(default_factory=list)
    args_from: int | None = None  # where gunicorn's own arguments start in argv (the agent decides)

    @property
    def gunicorn_argv(self) -> list[str]:
        """argv from the gunicorn word on (drops a leading interpreter or `-m gunicorn`)."""
        if self.args_from is None:
            return list(self.argv)
        return ["gunicorn", *self.argv[self.args_from:]]

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    @property
    def in_container(self) -> bool:
        return self.restart.container is not None

    def host_path(self, path: str) -> str | None:
        """Map a path as the process sees it to the host's path; None when it is inside an image."""
        if not self.in_container:
            return path
        best = None
        for mount in self.mounts:
            dest = mount.destination.rstrip("/") or "/"
            if path == dest or path.startswith(dest + "/"):
                if best is None or len(dest) > len(best.destination.rstrip("/")):
                    best = mount
        if best is None:
            return None
        rest = path[len(best.destination.rstrip("/")):]
        return best.source.rstrip("/") + rest

    def config_file(self) -> tuple[str | None, str]:
        """The gunicorn config file as the process sees it, and how it was chosen."""
        args = self.gunicorn_argv[1:]
        ref = None
        for i, word in enumerate(args):
            if word in ("-c", "--config") and i + 1 < len(args):
                ref = args[i + 1]
            elif word.startswith("--config="):
                ref = word.split("=", 1)[1]
            elif word.startswith("-c") and len(word) > 2:
                ref = word[2:]
        if ref is None:
            ref = self.env.get("GUNICORN_CMD_ARGS") and _config_in(self.env["GUNICORN_CMD_ARGS"])
            if not ref:
                return (posixpath.join(self.cwd or "/", "gunicorn.conf.py"), "default ./gunicorn.conf.py")
        kind, value = config_reference(ref)
        if kind == "python":
            return (posixpath.join(self.cwd or "/", value.replace(".", "/") + ".py"), f"-c python:{value}")
        return (posixpath.normpath(posixpath.join(self.cwd or "/", value)), f"-c {ref}")


def _config_in(cmd_args: str) -> str | None:
    words = shlex.split(cmd_args)
    for i, word in enumerate(words):
        if word in ("-c", "--config") and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
    return None


@dataclass
class HostFacts:
    hostname: str
    masters: list[GunicornMaster]
    compose_clis: dict[str, str]
    python: str

    def master(self) -> GunicornMaster:
        if not self.masters:
            raise LookupError("no gunicorn master process found in the process table")
        if len(self.masters) > 1:
            pids = ", ".join(str(m.pid) for m in self.masters)
            raise LookupError(f"{len(self.masters)} gunicorn masters (pids {pids}); this tool handles one per host")
        return self.masters[0]


def _supervisor_program(status: str, pid: int) -> str | None:
    for line in status.splitlines():
        match = SUPERVISOR_STATUS.match(line)
        if match and match.group("pid") and int(match.group("pid")) == pid:
            name = match.group("name")  # "prog", or "group:prog" for a program in a group
            group, _, proc = name.partition(":")
            return name if proc and proc != group else group
    return None


def _compose_cli(clis: dict[str, str]) -> list[str]:
    if "docker compose" in clis:
        return ["docker", "compose"]
    if "docker-compose" in clis:
        return ["docker-compose"]
    return []


def restart_method(master: dict, compose_clis: dict[str, str]) -> RestartMethod:
    docker = master.get("docker")
    if master.get("container"):
        labels = docker.get("labels", {}) if docker and "error" not in docker else {}
        if "com.docker.compose.project" in labels:
            files = [f for f in labels.get("com.docker.compose.project.config_files", "").split(",") if f]
            working = labels.get("com.docker.compose.project.working_dir")
            files = [posixpath.normpath(posixpath.join(working or "/", f)) for f in files]
            return RestartMethod("docker-compose", program=labels.get("com.docker.compose.service"),
                                 config_files=files, project=labels.get("com.docker.compose.project"),
                                 working_dir=working, container=master["container"], cli=_compose_cli(compose_clis))
        # also when `docker inspect` failed: the paths stay container paths (unmapped), never host paths
        return RestartMethod("docker", container=master["container"])
    sup = master.get("supervisor")
    if sup:
        # a program run through a wrapper (sh -c, gosu) has the wrapper's pid in the status
        pids = [master["pid"]] + [a["pid"] for a in master.get("ancestors", [])]
        program = sup.get("program") or next((p for p in (_supervisor_program(sup["status"], pid) for pid in pids)
                                              if p), None)
        return RestartMethod("supervisor", program=program, config_files=[sup["config"]] if sup.get("config") else [])
    if master.get("systemd_unit") and any(a["pid"] == 1 and "systemd" in a["name"] for a in master.get("ancestors", [])):
        return RestartMethod("systemd", program=master["systemd_unit"])
    return RestartMethod("unknown")


def parse_probe(reply: dict) -> HostFacts:
    masters = []
    for raw in reply["masters"]:
        mounts = [Mount(m["source"], m["destination"], bool(m.get("rw", True)))
                  for m in (raw.get("docker") or {}).get("mounts", []) if m.get("source") and m.get("destination")]
        masters.append(GunicornMaster(
            pid=raw["pid"], argv=raw["argv"], user=raw["user"], uid=raw["uid"], cwd=raw.get("cwd"),
            exe=raw.get("exe"), env=raw.get("env", {}),
            workers=[Worker(w["pid"], w["threads"]) for w in raw.get("workers", [])],
            restart=restart_method(raw, reply.get("compose_clis", {})), mounts=mounts,
            args_from=raw.get("gunicorn_args_from"),
        ))
    return HostFacts(reply["hostname"], masters, reply.get("compose_clis", {}), reply.get("python", ""))
