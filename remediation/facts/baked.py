"""The code of a compose container with no bind mount over its working directory: built on the
host (the service's `build:` context, mapped through the Dockerfile) or pulled (nothing on the
host to patch). Two round trips more than a mounted container: the compose files, then the
Dockerfile and .dockerignore; then one to compare each mapped file with the image's own copy.
"""
from __future__ import annotations

import base64
import json
import posixpath
from dataclasses import dataclass, field

from remediation.facts.compose_build import BAKED_BUILD, MOUNTED, PULLED, Build, build_of, covered_by_mount
from remediation.facts.dockerfile import ignored, map_path, undecided_sources
from remediation.managers.base import under
from remediation.model import GunicornMaster

SHA_SNIPPET = ("import hashlib, json, sys\nout = {}\nfor p in sys.argv[1:]:\n    try:\n"
               "        out[p] = hashlib.sha256(open(p, 'rb').read()).hexdigest()\n"
               "    except OSError as exc:\n        out[p] = 'error: ' + str(exc.strerror)\nprint(json.dumps(out))\n")


def _texts(reply: dict) -> dict[str, str | None]:
    out = {}
    for info in reply["files"]:
        raw = base64.b64decode(info["content"]) if info.get("content") else None
        out[info["path"]] = raw.decode("utf-8", "replace") if raw is not None else None
    return out


@dataclass
class BakedCode:
    build: Build | None
    dockerfile: str | None = None
    ignore: str = ""
    mapped: dict[str, str] = field(default_factory=dict)  # host path -> container path
    unmapped: dict[str, str] = field(default_factory=dict)  # container path -> why it has no host file
    mismatch: dict[str, str] = field(default_factory=dict)  # host path -> why it is not what the image holds
    dirs: dict[str, bool] = field(default_factory=dict)  # context path -> is a directory (as the host lists it)

    def is_dir(self, rel: str) -> bool | None:
        """Whether a COPY source is a directory in the context (None: not asked of the host)."""
        return self.dirs.get(posixpath.normpath(rel))

    def map(self, path: str) -> str | None:
        """The host path in the build context the container's `path` was copied from, or None."""
        if self.build is None:
            self.unmapped[path] = "the image was pulled: the host holds no build context"
            return None
        if self.dockerfile is None:
            self.unmapped[path] = f"no Dockerfile at {self.build.dockerfile}"
            return None
        found = map_path(self.dockerfile, path, self.build.target, is_dir=self.is_dir, build_args=self.build.args)
        if found.reason:
            self.unmapped[path] = f"{self.build.dockerfile}: {found.reason}"
            return None
        rel = found.rel[0]
        host = posixpath.normpath(posixpath.join(self.build.context, rel))
        if not under(host, self.build.context):
            self.unmapped[path] = f"{self.build.dockerfile}: {path} comes from outside the build context ({rel})"
            return None
        if rel != "." and ignored(self.ignore, rel):
            self.unmapped[path] = f"{self.build.context}/.dockerignore keeps {rel} out of the build context"
            return None
        self.mapped[host] = path
        return host

    def container_path(self, host: str) -> str | None:
        """The container path of a host file read from a mapped file or directory."""
        if host in self.mapped:
            return self.mapped[host]
        for base in sorted(self.mapped, key=len, reverse=True):
            if under(host, base):
                candidate = self.mapped[base].rstrip("/") + host[len(base):]
                return candidate if self.map(candidate) == host else None
        return None


def prepare(remote, master: GunicornMaster, files: dict) -> BakedCode | None:
    """Classify the code's place (on master.restart.code) and, for a build, map paths through it."""
    method = master.restart
    if method.kind != "docker-compose" or not method.container:
        return None
    if covered_by_mount(master.mounts, master.cwd):
        method.code = MOUNTED
        return None
    texts = _texts(remote.read(list(method.config_files)))
    build = None
    for path in method.config_files:  # a later -f file overrides an earlier one's build section
        # relative to the project directory (--project-directory), as compose resolves them
        found = build_of(texts.get(path) or "", method.program or "", method.working_dir or posixpath.dirname(path))
        build = found or build
    code = BakedCode(build)
    if build is None:
        method.code = PULLED
        master.build_map = code.map
        return code
    method.code, method.build_context = BAKED_BUILD, build.context
    ignore_path = posixpath.join(build.context, ".dockerignore")
    texts = _texts(remote.read([build.dockerfile, ignore_path]))
    code.dockerfile, code.ignore = texts.get(build.dockerfile), texts.get(ignore_path) or ""
    code.dirs = source_kinds(remote, build.context, undecided_sources(code.dockerfile or "", build.target, build.args))
    master.build_map = code.map
    return code


def source_kinds(remote, context: str, sources: list[str]) -> dict[str, bool]:
    """Ask the host which COPY sources are directories (`COPY src /app/`: the contents of a
    directory land in /app, a file lands as /app/src); one round trip, only when some are open."""
    if not sources:
        return {}
    paths = {posixpath.normpath(posixpath.join(context, rel)): rel for rel in sources}
    reply = remote.read(list(paths), list_dirs=list(paths), sha_only=True)
    listings = reply.get("listings") or {}
    out = {}
    for info in reply.get("files") or []:
        rel = paths.get(info.get("path"))
        if rel is None or not info.get("exists"):
            continue
        if info.get("is_file"):
            out[rel] = False
        elif isinstance(listings.get(info["path"]), list):
            out[rel] = True
    return out


def verify(remote, code: BakedCode, master: GunicornMaster, files: dict, python: str) -> None:
    """Each read context file must be byte-identical to the running image's copy (else the context
    changed since the build, or the file lands elsewhere): mismatches are recorded, not patched."""
    if code.build is None:
        return
    pairs = {}
    for host, remote_file in files.items():
        if remote_file.sha256 and under(host, code.build.context) and host not in master.restart.config_files:
            container = code.container_path(host)
            if container:
                pairs[host] = container
    if not pairs:
        return
    argv = ["docker", "exec", master.restart.container, python, "-c", SHA_SNIPPET, *pairs.values()]
    reply = remote.run_command(argv, timeout=60)
    try:
        shas = json.loads(reply.get("stdout") or "")
    except ValueError:
        shas = {}
    for host, container in pairs.items():
        seen = shas.get(container)
        if seen is None:
            code.mismatch[host] = f"cannot compare {host} with {container} in the running image"
        elif seen != files[host].sha256:
            code.mismatch[host] = (f"{host} is not what the running image holds at {container} "
                                   f"({'missing there' if seen.startswith('error') else 'different bytes'}: "
                                   "the context changed since the build, or the file lands elsewhere)")


def blockers(code: BakedCode | None, master: GunicornMaster, patched_hosts: list[str], needed: list[str]) -> list[str]:
    """Why the plan cannot be applied to this container's code (before any write)."""
    if code is None:
        return []
    if code.build is None:
        return [f"the code is baked into image {master.restart.image or '?'} (no bind mount over "
                f"{master.cwd}, no build: section for service {master.restart.program}): the host holds no file "
                "of the app to patch; run `invoke audit --path DIR` on the source tree and redeploy the image"]
    out = [code.mismatch[p] for p in patched_hosts if p in code.mismatch]
    out += [code.unmapped[p] for p in needed if p in code.unmapped]
    return list(dict.fromkeys(out))
