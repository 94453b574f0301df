"""Facts about one host, parsed from the agent's probe (pure functions, no I/O).

A fact is what is true on the host now: the gunicorn master and its workers, the command line
it really runs, the manager that runs it (managers.detect), and where its files live on the
host (container paths are mapped through the container's mounts).
"""
from __future__ import annotations

import posixpath
import shlex

from remediation import managers
from remediation.discovery.cmdline import config_argument, config_reference
from remediation.model import GunicornMaster, HostFacts, Mount, Worker


def config_file(master: GunicornMaster) -> tuple[str | None, str]:
    """The gunicorn config file as the process sees it, and how it was chosen: `-c` on the
    command line, else in GUNICORN_CMD_ARGS, else ./gunicorn.conf.py in the working directory."""
    ref = config_argument(master.gunicorn_argv[1:])
    if ref is None and master.env.get("GUNICORN_CMD_ARGS"):
        try:
            ref = config_argument(shlex.split(master.env["GUNICORN_CMD_ARGS"]))
        except ValueError:
            ref = None
    if not ref:
        return (posixpath.join(master.cwd or "/", "gunicorn.conf.py"), "default ./gunicorn.conf.py")
    kind, value = config_reference(ref)
    if kind == "python":
        return (posixpath.join(master.cwd or "/", value.replace(".", "/") + ".py"), f"-c python:{value}")
    return (posixpath.normpath(posixpath.join(master.cwd or "/", value)), f"-c {ref}")


def parse_probe(reply: dict) -> HostFacts:
    masters = []
    clis = reply.get("compose_clis", {})
    for raw in reply["masters"]:
        restart = managers.detect(raw, clis)
        engine = managers.of(restart).engine_facts(raw)
        mounts = [Mount(m["source"], m["destination"], bool(m.get("rw", True)))
                  for m in engine.get("mounts", []) if m.get("source") and m.get("destination")]
        masters.append(GunicornMaster(
            pid=raw["pid"], argv=raw["argv"], user=raw["user"], uid=raw["uid"], cwd=raw.get("cwd"),
            exe=raw.get("exe"), env=raw.get("env", {}),
            workers=[Worker(w["pid"], w["threads"], w.get("started")) for w in raw.get("workers", [])],
            restart=restart, mounts=mounts, args_from=raw.get("gunicorn_args_from"),
            env_names=frozenset(raw["env_names"]) if raw.get("env_names") is not None else None,
            nspid=raw.get("nspid"), started=raw.get("started"), listen=list(raw.get("listen") or []),
            published={int(k): int(v) for k, v in (engine.get("ports") or {}).items()},
        ))
    return HostFacts(reply["hostname"], masters, clis, reply.get("python", ""))
