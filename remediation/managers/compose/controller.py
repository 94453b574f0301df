"""docker-compose (v1 `docker-compose`, v2 `docker compose`): the service a container runs.

The container is recognised from the engine's own labels (`com.docker.compose.*`, set by v1 and
v2 alike); `restart` does not apply compose-file changes, `up -d` recreates the container."""
from __future__ import annotations

import posixpath

from remediation.errors import RestartError
from remediation.facts.compose_build import BAKED_BUILD, build_of, service
from remediation.managers.base import Manager, StopBounds, normpaths, seconds, signal_name, under
from remediation.model import RestartMethod


def compose_cli(clis: dict[str, str]) -> list[str]:
    if "docker compose" in clis:
        return ["docker", "compose"]
    if "docker-compose" in clis:
        return ["docker-compose"]
    return []


def compose_labels(master: dict) -> dict | None:
    """The container's compose labels, or None when it is no compose container."""
    docker = master.get("docker")
    labels = docker.get("labels", {}) if docker and "error" not in docker else {}
    return labels if "com.docker.compose.project" in labels else None


def project_argv(method: RestartMethod) -> list[str]:
    """The compose CLI with the project's files, name and directory, as it was started."""
    if not method.cli:
        raise RestartError("neither `docker compose` nor `docker-compose` is installed on the host")
    if not method.program:
        raise RestartError("docker-compose manages gunicorn but its service name was not found in the "
                           "container's labels")
    base = list(method.cli)
    for path in method.config_files:
        base += ["-f", path]
    if method.project:
        base += ["-p", method.project]
    if method.working_dir:
        base += ["--project-directory", method.working_dir]
    for env_file in method.env_files:  # interpolation as at the first `up` (--env-file, not the default .env)
        base += ["--env-file", env_file]
    return base


def project_env_files(method: RestartMethod) -> list[str]:
    """The files compose interpolates `${VAR}` from (host paths, a later one wins): those given to
    `--env-file` at the first `up` (the `environment_file` label), else the `.env` of the project
    directory (the `working_dir` label: `--project-directory`, by default the first compose
    file's directory); docker-compose 1.29's `config` reads them there."""
    return list(method.env_files) or ([posixpath.join(method.working_dir, ".env")] if method.working_dir else [])


def project_dir(method: RestartMethod, compose_file: str) -> str:
    """The directory compose resolves a compose file's relative paths against: the project
    directory (`--project-directory`, docker-compose 1.29's `config` shows env_file: and build
    contexts there), else the file's own directory."""
    return method.working_dir or posixpath.dirname(compose_file)


def service_files(compose_text: str, name: str, compose_dir: str) -> tuple[list[str], list[str]]:
    """Host paths of a service's `env_file:` entries, and of its build's Dockerfile, resolved as
    compose does (relative to `compose_dir`, the project directory)."""
    svc = service(compose_text, name)
    if not svc:
        return [], []
    refs = svc.get("env_file") or []
    refs = refs if isinstance(refs, list) else [refs]
    paths = [ref.get("path") if isinstance(ref, dict) else ref for ref in refs]
    env_files = normpaths(compose_dir, [str(p) for p in paths if isinstance(p, str) and p and "$" not in p])
    build = build_of(compose_text, name, compose_dir)
    return env_files, [build.dockerfile] if build is not None and "$" not in build.dockerfile else []


def baked_change(method: RestartMethod, changed: list[str]) -> bool:
    """A changed file lies in the build context of a baked image: only a new image applies it."""
    return method.code == BAKED_BUILD and bool(method.build_context) and any(
        under(p, method.build_context) and p not in method.config_files and p not in method.manager_reads
        for p in changed)


class Compose(Manager):
    PROBE = "remediation.managers.compose.probe"
    KIND = "docker-compose"
    LABEL = "docker-compose"
    INVENTORY_VARS = ("remediation_compose_service", "remediation_compose_file")

    def detect(self, master, compose_clis):
        if not master.get("container"):  # on the host, or in a container the engine does not know
            return None
        labels = compose_labels(master)
        if labels is None:
            return None
        working = labels.get("com.docker.compose.project.working_dir")
        files = normpaths(working, [f for f in labels.get("com.docker.compose.project.config_files", "").split(",") if f])
        docker = master.get("docker") or {}
        env_files = [f for f in labels.get("com.docker.compose.project.environment_file", "").split(",") if f]
        return RestartMethod(self.KIND, program=labels.get("com.docker.compose.service"), config_files=files,
                             project=labels.get("com.docker.compose.project"), working_dir=working,
                             container=master["container"], cli=compose_cli(compose_clis),
                             image=docker.get("image"), image_id=docker.get("image_id"),
                             stop={"signal": docker.get("stop_signal"), "timeout": docker.get("stop_timeout")},
                             env_files=normpaths(working, env_files))

    def reads(self, method, files):
        """What compose reads for the service besides its files: the `env_file:` entries (list or
        mapping form, `required: false` ones too: the agent reports them missing) and the
        project's `.env` (interpolation of `${VAR}`; the `environment_file` label's files when
        compose was given --env-file)."""
        out: list[str] = []
        for path in method.config_files:
            text = files.get(path) and files[path].text
            out += service_files(text or "", method.program or "", project_dir(method, path))[0]
        out += project_env_files(method)
        return list(dict.fromkeys(out))

    def more_globs(self, method, files):
        """The files compose reads (reads) and the Dockerfile of the service's `build:` (its ENV, CMD)."""
        dockerfiles = [d for path in method.config_files for d in service_files(
            (files.get(path) and files[path].text) or "", method.program or "", project_dir(method, path))[1]]
        return [p for p in dict.fromkeys(self.reads(method, files) + dockerfiles) if p not in files]

    def log_source(self, method, files):
        return {"kind": "docker", "container": method.container, "key": "app"}

    def stop_bounds(self, method, files, graceful_timeout):
        """The engine's stop of the container (compose's stop_grace_period and stop_signal become the
        container's StopTimeout and StopSignal): SIGTERM and 10 s when unset (docker's defaults)."""
        stop = method.stop or {}
        notes = [] if method.stop is not None else ["the engine was not asked: docker's defaults"]
        return StopBounds(graceful_timeout, signal_name(stop.get("signal")) or "TERM",
                          seconds(stop.get("timeout")) if stop.get("timeout") is not None else 10.0,
                          "compose stop_signal / stop_grace_period (docker inspect StopSignal, StopTimeout)", notes)

    def check_inventory(self, method, host_vars):
        out = []
        service = host_vars.get("remediation_compose_service")
        if service and method.program and method.program != service:
            out.append(f"docker-compose runs gunicorn as service {method.program!r}, the inventory says {service!r}")
        compose_file = host_vars.get("remediation_compose_file")
        if compose_file and method.config_files and compose_file not in method.config_files:
            out.append(f"the container was started from {', '.join(method.config_files)}, the inventory says "
                       f"{compose_file}")
        return out

    def restart_argvs(self, method, changed):
        base = project_argv(method)
        if baked_change(method, changed):  # the image was rebuilt (apply) or retagged (rollback): recreate
            return [base + ["up", "-d", "--no-deps", "--no-build", method.program]]
        if any(p in method.config_files or p in method.manager_reads for p in changed):
            # `restart` applies neither compose-file nor env_file:/.env changes: `up -d` recreates
            return [base + ["up", "-d", "--no-deps", method.program]]
        return [base + ["restart", method.program]]


class PlainDocker(Manager):
    """A container no compose project started (`docker run`): its paths stay container paths."""

    PROBE = "remediation.managers.compose.probe"
    KIND = "docker"
    LABEL = "docker"

    def detect(self, master, compose_clis):
        # also when the engine does not know the container (""): its paths stay container paths
        # (unmapped), never taken for host paths
        return RestartMethod(self.KIND, container=master["container"]) if master.get("container") is not None else None

    def log_source(self, method, files):
        return {"kind": "docker", "container": method.container, "key": "app"}

    def restart_argvs(self, method, changed):
        raise RestartError(f"cannot restart gunicorn managed by {method.kind!r} (a container no compose project "
                           "manages): restart it by hand")
