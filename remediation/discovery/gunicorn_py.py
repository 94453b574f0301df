"""gunicorn Python config files: which module-level names set worker settings, and how.

gunicorn execs the config file and reads its lowercase module globals (`worker_class`,
`workers`, `threads`, `worker_connections`, `raw_env`, ...). The extension does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from remediation.discovery.model import GUNICORN_SETTINGS
from remediation.discovery.worker_classes import GEVENT_MODULES
from remediation.discovery.pyeval import DictObj, Evaluator, State, TooComplex, Unknown
from remediation.discovery.pyparse import ParsedPy

# Settings names used to recognise a gunicorn config by content.
KNOWN_SETTINGS = set(GUNICORN_SETTINGS) | {
    "bind", "backlog", "timeout", "graceful_timeout", "keepalive", "max_requests",
    "max_requests_jitter", "preload_app", "accesslog", "errorlog", "loglevel", "access_log_format",
    "proc_name", "pidfile", "daemon", "chdir", "raw_env", "wsgi_app", "user", "group", "umask",
    "worker_tmp_dir", "forwarded_allow_ips", "reload", "capture_output", "limit_request_line",
    "post_fork", "pre_fork", "on_starting", "when_ready", "post_worker_init", "worker_int",
    "statsd_host", "logconfig_dict", "secure_scheme_headers", "pythonpath",
}


@dataclass
class ConfigAnalysis:
    """The abstract states at the end of a config file, plus gevent-specific code found."""

    parsed: ParsedPy
    states: list[State]
    problem: Optional[str] = None
    gevent_code: list[tuple[int, str]] = field(default_factory=list)
    patch_all: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, what

    def is_config(self) -> bool:
        names = set()
        for state in self.states:
            names |= set(state.names)
        return bool(names & KNOWN_SETTINGS)

    def raw_env(self) -> list[str]:
        """DJANGO_SETTINGS_MODULE=... and other entries of a literal raw_env list."""
        found = []
        for node in self.parsed.module.body:
            if isinstance(node, cst.SimpleStatementLine):
                for small in node.body:
                    if (isinstance(small, cst.Assign) and len(small.targets) == 1
                            and isinstance(small.targets[0].target, cst.Name)
                            and small.targets[0].target.value == "raw_env"
                            and isinstance(small.value, (cst.List, cst.Tuple))):
                        for element in small.value.elements:
                            if isinstance(element.value, cst.SimpleString):
                                found.append(element.value.evaluated_value)
        return found


class _GeventScan(cst.CSTVisitor):
    def __init__(self, parsed: ParsedPy) -> None:
        self.parsed = parsed
        self.found: list[tuple[int, str]] = []
        self.patch_all: list[tuple[int, str]] = []

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = self.parsed.code(alias.name)
            if name.split(".")[0] in GEVENT_MODULES:
                self.found.append((self.parsed.line(node), f"import {name}"))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # hooks run in workers; only import-time code concerns the master

    def visit_Call(self, node: cst.Call) -> None:
        if self.parsed.code(node.func).endswith("patch_all"):
            self.patch_all.append((self.parsed.line(node), self.parsed.code(node).strip()))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None:
            name = self.parsed.code(node.module)
            if name.split(".")[0] in GEVENT_MODULES:
                self.found.append((self.parsed.line(node), f"from {name} import ..."))


def analyze_config(parsed: ParsedPy, evaluator: Evaluator) -> ConfigAnalysis:
    """Evaluate a gunicorn config file."""
    try:
        states = evaluator.run_module(parsed)
    except TooComplex as exc:
        return ConfigAnalysis(parsed, [], str(exc))
    analysis = ConfigAnalysis(parsed, states)
    scan = _GeventScan(parsed)
    parsed.module.visit(scan)
    analysis.gevent_code = scan.found
    analysis.patch_all = [(parsed.path, line, f"gevent monkey-patching `{code}` at import time")
                          for line, code in scan.patch_all]
    return analysis


def setting_values(analysis: ConfigAnalysis, setting: str) -> tuple[list, bool]:
    """Distinct values a setting ends with, and whether every path sets it."""
    values = []
    always = bool(analysis.states)
    for state in analysis.states:
        value = state.names.get(setting)
        if value is None:
            always = False
            continue
        if isinstance(value, DictObj):
            value = Unknown("a dict", None, analysis.parsed)
        if not any(value is v for v in values):
            values.append(value)
    return values, always
