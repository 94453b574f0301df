"""The files of one tree, read once: kinds, template masks, parsed Python, located sources."""

from __future__ import annotations

import posixpath
from typing import Mapping, Optional, Union

import libcst as cst

from remediation.discovery.classify import interesting, kind_of
from remediation.discovery.compose_interp import compose_base
from remediation.discovery.model import LIVE_COMMAND, LIVE_ENV, ComposeProject, FindingCode, SystemdUnit
from remediation.discovery.paths import PathIndex
from remediation.discovery.pyparse import ModuleIndex, ParsedPy, parse_python
from remediation.discovery.sources.base import Issue, LineIndex, Located, Lookalike
from remediation.discovery.sources.dockerfile import locate_dockerfile
from remediation.discovery.sources.envfile import locate_env_file
from remediation.discovery.sources.ini import read_ini
from remediation.discovery.sources.jinja import Template, looks_templated, mask
from remediation.discovery.sources.shell import locate_procfile, locate_shell
from remediation.discovery.sources.supervisor import locate_supervisor
from remediation.discovery.sources.systemd import load_order, locate_systemd, locate_unit
from remediation.discovery.sources.yamlfiles import locate_yaml

DATA_SUFFIXES = {"png", "jpg", "jpeg", "gif", "ico", "svg", "webp", "woff", "woff2", "ttf", "eot",
                 "otf", "pdf", "zip", "gz", "tgz", "bz2", "xz", "tar", "whl", "mo", "pyc", "so",
                 "sqlite3", "db", "json", "csv", "map", "mp4", "mp3", "wasm", "jar", "bin"}

EXAMPLE_DIRS = {"docs", "doc", "documentation", "examples", "example"}

LOCATORS = {
    "dockerfile": locate_dockerfile,
    "procfile": locate_procfile,
    "systemd": locate_systemd,
    "yaml": locate_yaml,
    "env": locate_env_file,
    "shell": locate_shell,
}


def decode(content: Union[str, bytes]) -> tuple[Optional[str], Optional[str]]:
    """Text of a file, or the reason it is not text."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
    if "\x00" in content:
        return None, "binary file (NUL bytes)"
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        return None, "not valid UTF-8 (undecodable bytes)"
    return content, None


class Tree:
    """Everything the planners need to know about the files."""

    def __init__(self, files: Mapping[str, Union[str, bytes]], unit: Optional[SystemdUnit] = None,
                 project: Optional[ComposeProject] = None) -> None:
        """`unit`: the live process's systemd unit as systemd loads it (its files, its specifiers):
        those files are read as that one unit, whatever their names (a template's instance).
        `project`: the live compose project, whose files' relative paths compose resolves in its
        directory."""
        self.unit = unit
        self.project = project
        self.texts: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.templates: dict[str, Template] = {}
        self.issues: list[Issue] = []
        self.located = Located()
        self._parsed: dict[str, Union[ParsedPy, str]] = {}
        self.error_lines: dict[str, Optional[int]] = {}
        self._lines: dict[str, LineIndex] = {}
        self.skipped_binary = 0
        for path, content in sorted(files.items()):
            text, problem = decode(content)
            if text is None:
                if kind_of(path, "") is not None or self._candidate_name(path):
                    self.issues.append(Issue(path, None, "worker_class", f"cannot read: {problem}",
                                             code=FindingCode.UNREADABLE))
                else:
                    self.skipped_binary += 1  # images, fonts, archives: counted, not listed
                continue
            self.texts[path] = text
            kind = kind_of(path, text)
            if kind is not None:
                self.kinds[path] = kind
        self.paths = PathIndex(self.texts)
        self.modules = ModuleIndex([p for p in self.texts if p.endswith(".py")])
        units = load_order([p for p, k in self.kinds.items() if k == "systemd"])
        if unit is not None:  # systemd's own answer for the live unit wins over file names
            own = [p for p in unit.files if p in self.texts]
            units = {name: [p for p in files if p not in own] for name, files in units.items()}
            units = {name: files for name, files in units.items() if files}
            if own:
                units[unit.name] = own
        grouped = {p for files in units.values() for p in files}
        for path, kind in self.kinds.items():
            if (kind in LOCATORS and path not in grouped) or kind == "uwsgi":
                self._locate(path, kind)
        for unit, files in units.items():  # a unit file and its drop-ins are read together
            self._locate(files[-1], "systemd", unit=(unit, files))
        # supervisor last: `%(ENV_X)s` can then read an X the tree sets once (Dockerfile ENV)
        for path, kind in self.kinds.items():
            if kind == "supervisor":
                self._locate(path, kind)
        # Files loaded by EnvironmentFile= / env_file: are env files whatever their name.
        for refs in list(self.located.env_files.values()):
            for ref in refs:
                match = self.paths.match(ref, [""], [""])
                if match.path and self.kinds.get(match.path) != "env":
                    self.kinds[match.path] = "env"
                    self._locate(match.path, "env")

    @staticmethod
    def _candidate_name(path: str) -> bool:
        """A name that could hold a source we read (a binary docker/logo.png is not one)."""
        probe = posixpath.basename(path).lower()
        if "." in probe and probe.rsplit(".", 1)[1] in DATA_SUFFIXES:
            return False
        return any(k in probe for k in ("gunicorn", "settings", "docker", "supervisor", "procfile",
                                        ".service", ".env", "entrypoint", "compose"))

    # -- text access -----------------------------------------------------------------------
    def analysable(self, path: str) -> str:
        """The text parsers see: templates have their tags masked, offsets unchanged."""
        template = self.template(path)
        return template.masked if template else self.texts[path]

    def template(self, path: str) -> Optional[Template]:
        if path not in self.templates:
            text = self.texts[path]
            is_python = self.kinds.get(path, "").startswith("python")
            templated = (looks_templated(path, text)
                         if not is_python or path.endswith((".j2", ".jinja", ".jinja2", ".tmpl", ".tpl")) else False)
            self.templates[path] = mask(text) if templated else None
        return self.templates[path]

    def line(self, path: str, offset: Optional[int]) -> Optional[int]:
        if offset is None or path in (LIVE_COMMAND, LIVE_ENV) or path not in self.texts:
            return None
        if path not in self._lines:
            self._lines[path] = LineIndex(self.texts[path])
        return self._lines[path].line(offset)

    def parsed(self, path: str) -> Union[ParsedPy, str]:
        """Parsed Python, or the parse error as text."""
        if path not in self._parsed:
            try:
                self._parsed[path] = parse_python(path, self.analysable(path))
            except (cst.ParserSyntaxError, cst.CSTValidationError, RecursionError, ValueError) as exc:
                self._parsed[path] = f"not valid Python: {self._syntax_error(path, exc)}"
        return self._parsed[path]

    def _syntax_error(self, path: str, exc: Exception) -> str:
        """Python's own message for the error (clearer than libcst's), and remember its line."""
        try:
            compile(self.analysable(path), path, "exec", dont_inherit=True)
        except SyntaxError as error:
            self.error_lines[path] = error.lineno
            return f"{error.msg} (line {error.lineno})"
        except ValueError as error:
            return str(error)
        lines = str(exc).strip().splitlines()
        return lines[0] if lines else type(exc).__name__

    def load_module(self, dotted: str, importer: Optional[str], level: int) -> Optional[ParsedPy]:
        path = self.modules.find(dotted, importer, level)
        if path is None:
            return None
        parsed = self.parsed(path)
        return parsed if isinstance(parsed, ParsedPy) else None

    # -- locating --------------------------------------------------------------------------
    def _locate(self, path: str, kind: str, unit: Optional[tuple[str, list[str]]] = None) -> None:
        """Locate one file's sources (`unit`: a systemd unit's name and files in load order, `path`
        the last of them)."""
        text = "\n".join(self.analysable(p) for p in unit[1]) if unit else self.analysable(path)
        if not interesting(kind, text):
            return
        if EXAMPLE_DIRS & set(path.split("/")[:-1]) and "gunicorn" in text:
            self.issues.append(Issue(path, None, "worker_class", "a documentation example, not a "
                                     "deployment of this tree: not read, never patched"))
            return
        try:
            if kind == "supervisor":
                found = locate_supervisor(path, text, check=self.template(path) is None,
                                          env=self._unique_env())
            elif kind == "uwsgi":
                found = self._uwsgi(path, text)
            elif unit:
                live = self.unit is not None and unit[0] == self.unit.name
                found = locate_unit([(p, self.analysable(p)) for p in unit[1]], unit[0],
                                    dict(self.unit.specifiers) if live else None, self._env_file,
                                    frozenset(self.unit.absent) if live and self.unit is not None else frozenset())
            elif kind == "yaml":
                found = locate_yaml(path, text, compose_base(path, self.project))
            else:
                found = LOCATORS[kind](path, text)
        except RecursionError:
            found = Located(issues=[Issue(path, None, "worker_class", "too deeply nested to read")])
        except Exception as exc:  # one odd file must not end the audit: it becomes a finding
            found = Located(issues=[Issue(path, None, "worker_class",
                                          f"could not be read ({type(exc).__name__}: {exc}); "
                                          "not analysed")])
        self.located.extend(found)

    def _env_file(self, written: str) -> Optional[tuple[str, str]]:
        """An EnvironmentFile= path -> (tree key, text), when the tree surely holds it: the very
        path on a host (the tree is rooted at /), else (a checkout) the one file it names."""
        if written.lstrip("/") in self.texts:
            return written.lstrip("/"), self.texts[written.lstrip("/")]
        if self.unit is not None:
            return None
        match = self.paths.match(written, [""], [""])
        if match.path is None or not match.certain or match.path not in self.texts:
            return None
        return match.path, self.texts[match.path]

    def _unique_env(self) -> dict:
        """Variables the tree sets exactly once, to a literal (Dockerfile ENV, env files)."""
        seen: dict = {}
        for env in self.located.env:
            if env.kind in ("dockerfile", "env-file") and not env.expands and env.value.text:
                seen.setdefault(env.name, []).append(env)
        return {name: envs[0] for name, envs in seen.items()
                if len({e.value.text for e in envs}) == 1}

    @staticmethod
    def _uwsgi(path: str, text: str) -> Located:
        entries = [e for e in read_ini(text) if e.section == "uwsgi"]
        keys = {e.key: e for e in entries}
        gevent = "gevent" in keys
        detail = ", ".join(f"{k} = {keys[k].value.text}" for k in ("processes", "workers", "threads", "gevent") if k in keys)
        offset = (keys.get("gevent") or (entries[0] if entries else None))
        return Located(lookalikes=[Lookalike(path, offset.offset if offset else 0, "uWSGI",
                                             detail or "[uwsgi] section", gevent)])
