"""Where a file of a baked image came from: a container path mapped back to the build context
through the Dockerfile's WORKDIR and COPY/ADD lines (pure, no I/O).

ARG and ENV references in COPY/ADD/WORKDIR are resolved as the builder does: an ARG takes the
build argument compose passes (`build.args`), else its default; an ENV set earlier in the stage
(or in the stage it is built FROM) wins over an ARG; an ARG declared before the first FROM is seen
only in a stage that re-declares it; `$V`, `${V}`, `${V:-word}` and `${V:+word}` are expanded.

Only certain mappings are returned. A path is refused (with the reason) when the last line that
puts it in the image copies it from another build stage or a URL, extracts an archive, depends on
an ARG or ENV value left unknown (an ARG with neither default nor build argument, a name the
Dockerfile does not declare, a build argument compose takes from its own environment), is a
heredoc, or when a RUN after it may change it; a path no COPY/ADD line of the stage puts there
comes from the base image (or from the stage it is built FROM).
"""
from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".txz")


@dataclass(frozen=True)
class Copy:
    line: int
    verb: str  # COPY | ADD
    sources: tuple[str, ...]
    dest: str  # absolute, as the Dockerfile wrote it after WORKDIR (a trailing / kept)
    from_stage: str | None = None
    heredoc: bool = False
    unknown: tuple[str, ...] = ()  # variables its paths name whose value is not known


@dataclass
class Stage:
    line: int
    base: str
    name: str | None
    steps: list = field(default_factory=list)  # Copy, or ("RUN", line, text), in order
    workdir: str = "/"
    env: dict = field(default_factory=dict)  # ENV values set so far (inherited from a FROM stage)
    args: dict = field(default_factory=dict)  # ARG values in scope (None: declared, value unknown)


@dataclass(frozen=True)
class Mapped:
    """A container path's origin: `rel` in the context (candidates, best first), or why not."""

    rel: tuple[str, ...] = ()
    reason: str | None = None
    line: int | None = None


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined text) of each instruction: comments dropped, `\\` continued."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if raw.rstrip().endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        out.append((start, " ".join(part.strip() for part in buf)))
        buf = []
    if buf:
        out.append((start, " ".join(part.strip() for part in buf)))
    return out


def _words(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except ValueError:
            pass
    try:
        return shlex.split(rest)
    except ValueError:
        return rest.split()


UNSET = object()  # an ARG declared without a default and given no build argument: empty
_REF = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])((?:[^{}]|\$\{[^{}]*\})*))?\}"
                  r"|\$\{[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand(text: str, lookup) -> tuple[str, tuple[str, ...]]:
    """`text` with its variable references replaced, and the names whose value is unknown
    (`lookup(name)` gives a str, UNSET, or None: unknown). An unknown or unset plain reference
    stays as written; `${V:-word}` and `${V:+word}` follow the builder's rules."""
    unknown: list[str] = []

    def one(match: re.Match) -> str:
        whole = match.group(0)
        if whole == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        if name is None:  # a form the builder has but this reading does not (`${V#x}`, `${V%x}`)
            unknown.append(whole)
            return whole
        value = lookup(name)
        op = match.group(2)
        if op and value is not None:
            empty = value is UNSET or value == ""
            word, inner = expand(match.group(3) or "", lookup)
            if (op == ":-") == empty:
                unknown.extend(inner)
                return word
            return "" if op == ":+" else value
        if value is None or value is UNSET:
            unknown.append(name)
            return whole
        return value

    out = _REF.sub(one, text)
    return out, tuple(dict.fromkeys(unknown))


def _given(value):
    """A compose build arg's value as the builder gets it, or None when not known here: compose
    takes a null from its own environment and interpolates `$` itself; a YAML float may have lost
    the digits its text had (`3.10`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and "$" not in value else None


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    """The (name, raw value) pairs of an ENV line: `K=V K2="v w"`, or the legacy `K value words`."""
    words = _words(rest)
    if words and "=" not in words[0]:
        name, _, value = rest.partition(" ")
        return [(name, value.strip())]
    return [(w.partition("=")[0], w.partition("=")[2]) for w in words if "=" in w]


def parse(text: str, build_args: dict | None = None) -> list[Stage]:
    """The build stages of a Dockerfile, each with its COPY/ADD and RUN steps and final WORKDIR,
    ARG/ENV references resolved with `build_args` (compose's `build.args`; a None value: compose
    takes it from the environment it runs in, unknown here)."""
    given = {str(k): _given(v) for k, v in (build_args or {}).items()}
    meta: dict = {}  # ARGs declared before the first FROM
    stages: list[Stage] = []

    def lookup(name: str):
        if not stages:
            return meta.get(name)
        stage = stages[-1]
        if name in stage.env:
            return stage.env[name]
        return stage.args.get(name)  # an undeclared name may be set by the base image: unknown

    def declare(scope: dict, rest: str) -> None:
        for word in _words(rest):
            name, eq, default = word.partition("=")
            if name in given:
                scope[name] = given[name]
            elif eq:
                value, missing = expand(default, lookup)
                scope[name] = None if missing else value
            elif scope is not meta and name in meta:
                scope[name] = meta[name]
            else:
                scope[name] = UNSET

    for number, line in logical_lines(text):
        verb, _, rest = line.partition(" ")
        verb, rest = verb.upper(), rest.strip()
        if verb == "ARG":
            declare(stages[-1].args if stages else meta, rest)
            continue
        if verb == "FROM":
            words = [expand(w, lookup)[0] for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            parent = next((s for s in reversed(stages) if s.name and words and s.name == words[0]), None)
            stages.append(Stage(number, words[0] if words else "", name,
                                env=dict(parent.env) if parent else {}))
            continue
        if not stages:
            continue
        stage = stages[-1]
        if verb == "ENV":
            for name, raw in _env_pairs(rest):
                value, missing = expand(raw, lookup)
                stage.env[name] = None if missing else value
        elif verb == "WORKDIR":
            target, missing = expand(rest.strip().strip('"'), lookup)
            stage.workdir = posixpath.normpath(posixpath.join(stage.workdir, rest.strip().strip('"') if missing
                                                              else target))
        elif verb in ("COPY", "ADD"):
            words = _words(rest)
            flags = [w for w in words if w.startswith("--")]
            raw_paths = [w for w in words if not w.startswith("--")]
            from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if len(raw_paths) < 2:
                continue
            heredoc = any(p.startswith("<<") for p in raw_paths)
            unknown: list[str] = []
            paths = []
            for raw in raw_paths:
                value, missing = expand(raw, lookup) if not heredoc else (raw, ())
                paths.append(raw if missing else value)
                unknown.extend(missing)
            dest = paths[-1]
            # an unknown leading value may be an absolute path: the destination is then anywhere
            absolute = dest if dest.startswith(("/", "$")) else posixpath.join(stage.workdir, dest)
            if (dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))) and not absolute.endswith("/"):
                absolute += "/"
            stage.steps.append(Copy(number, verb, tuple(paths[:-1]), absolute, from_stage, heredoc=heredoc,
                                    unknown=tuple(dict.fromkeys(unknown))))
        elif verb == "RUN":
            stage.steps.append(("RUN", number, rest))
    return stages


def final_stage(stages: list[Stage], target: str | None = None) -> Stage | None:
    if target:
        return next((s for s in stages if s.name == target), None)
    return stages[-1] if stages else None


def _dir_like(source: str) -> bool:
    return source in (".", "./") or source.endswith("/") or source.endswith("/.")


def _source_kind(source: str, is_dir) -> str:
    """"dir", "file" or "unknown" for a COPY source named without a trailing slash."""
    if is_dir is not None:
        known = is_dir(source)
        if known is not None:
            return "dir" if known else "file"
    return "file" if "." in posixpath.basename(source) else "unknown"


def _candidates(copy: Copy, path: str, is_dir=None) -> list[str]:
    """Context paths `path` comes from under this COPY (empty: this COPY does not put it there)."""
    dest = copy.dest
    dest_dir = dest.endswith("/") or len(copy.sources) > 1
    base = posixpath.normpath(dest)
    out = []
    for source in copy.sources:
        src = posixpath.normpath(source.lstrip("/")) if source not in (".", "./") else "."
        kind = "dir" if _dir_like(source) else _source_kind(src, is_dir)
        if path == base:  # the destination itself: a directory's contents land there (`COPY src/ .`)
            if kind == "dir" or (not dest_dir and kind != "dir"):
                out.append(src)
        elif path.startswith(base.rstrip("/") + "/") or base == "/":
            rest = path[len(base.rstrip("/")) + 1:]
            if any(ch in source for ch in "*?["):
                if "/" not in rest and fnmatch.fnmatchcase(rest, posixpath.basename(src)):
                    out.append(posixpath.normpath(posixpath.join(posixpath.dirname(src), rest)))
                continue
            if kind == "dir" or (kind == "unknown" and not dest_dir):
                # a directory's contents land in dest (`COPY src /app/src`, `COPY . /app`)
                out.append(posixpath.normpath(posixpath.join(src, rest)))
            elif dest_dir and rest == posixpath.basename(src):  # `COPY file /dest/` lands as /dest/file
                out.append(src)
                if kind == "unknown":
                    out.append(posixpath.normpath(posixpath.join(src, rest)))
            elif kind == "unknown":
                out.append(posixpath.normpath(posixpath.join(src, rest)))
    return out


def _why_not(copy: Copy, path: str) -> str | None:
    where = f"line {copy.line}: {copy.verb}"
    if copy.from_stage is not None:
        return f"{where} --from={copy.from_stage} copies {path} from another build stage, not from the context"
    if copy.heredoc:
        return f"{where} writes {path} from a heredoc"
    if copy.unknown or any("$" in p for p in copy.sources + (copy.dest,)):
        names = ", ".join(copy.unknown) or "a variable"
        return (f"{where} names its paths through an ARG or ENV value the Dockerfile and the build args "
                f"leave unknown ({names})")
    if copy.verb == "ADD" and any(re.match(r"^[a-z]+://", s) or s.endswith(ARCHIVES) for s in copy.sources):
        return f"{where} fetches a URL or extracts an archive"
    return None


def undecided_sources(text: str, target: str | None = None, build_args: dict | None = None) -> list[str]:
    """COPY/ADD sources of the final stage whose kind (file or directory) their spelling leaves
    open (`COPY src /app/`): the context itself must say (map_path's `is_dir`)."""
    stage = final_stage(parse(text, build_args), target)
    out: list[str] = []
    for step in stage.steps if stage else []:
        if isinstance(step, Copy) and step.from_stage is None:
            for source in step.sources:
                src = posixpath.normpath(source.lstrip("/"))
                if not _dir_like(source) and not any(ch in source for ch in "*?[$") and _source_kind(src, None) == "unknown":
                    out.append(src)
    return list(dict.fromkeys(out))


def map_path(text: str, path: str, target: str | None = None, is_dir=None,
             build_args: dict | None = None) -> Mapped:
    """The context path(s) the container's `path` was copied from, or the reason it is not certain.
    `is_dir(rel)` (True, False or None: unknown) says what a COPY source is in the context;
    `build_args` are the service's compose `build.args`."""
    stages = parse(text, build_args)
    stage = final_stage(stages, target)
    if stage is None:
        return Mapped(reason=f"no build stage {target!r} in the Dockerfile" if target else "no FROM in the Dockerfile")
    path = posixpath.normpath(path)
    later_runs = []
    for step in reversed(stage.steps):
        if isinstance(step, tuple):
            later_runs.append(step)
            continue
        if "$" in step.dest or step.unknown:  # the destination depends on a build value: it may be any path under its prefix
            prefix = step.dest.split("$")[0]
            if path.startswith(prefix) or not prefix.startswith("/"):
                return Mapped(reason=_why_not(step, path), line=step.line)
            continue
        found = _candidates(step, path, is_dir)
        if not found:
            continue
        why = _why_not(step, path)
        if why:
            return Mapped(reason=why, line=step.line)
        name = posixpath.basename(path)
        for _verb, number, run in later_runs:
            if name in run or any(c in run for c in found if c != "."):
                return Mapped(reason=f"line {number}: a RUN after the COPY at line {step.line} may change {path}",
                              line=number)
        return Mapped(rel=tuple(dict.fromkeys(found)), line=step.line)
    if any(stage.base == s.name for s in stages if s.name):
        return Mapped(reason=f"{path} comes from build stage {stage.base!r} (multi-stage build), not a COPY of "
                             "the context in the final stage")
    return Mapped(reason=f"no COPY/ADD line of the final stage puts {path} in the image (it is in the base "
                         f"image {stage.base})")


def workdir(text: str, target: str | None = None, build_args: dict | None = None) -> str | None:
    stage = final_stage(parse(text, build_args), target)
    return stage.workdir if stage else None


def ignored(dockerignore: str, rel: str) -> bool:
    """Whether .dockerignore keeps `rel` (a context path) out of the build context: patterns
    match the path or any of its parents, `!` re-includes, the last match wins."""
    rel = posixpath.normpath(rel)
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for raw in dockerignore.splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = posixpath.normpath(pattern.lstrip("!").strip("/"))
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(p.split("/")[-1], pattern[3:]) for p in prefixes)
        else:
            hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
        if hit:
            result = not negate
    return result
