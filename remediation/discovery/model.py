"""Result types shared by every discovery module: findings, hints, text edits, the audit result."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Literal, Optional

Action = Literal["patch", "report", "ok"]
SETTINGS = (
    "worker_class",
    "workers",
    "threads",
    "worker_connections",
    "CONN_MAX_AGE",
    "CONN_HEALTH_CHECKS",
)
GUNICORN_SETTINGS = SETTINGS[:4]
DB_SETTINGS = SETTINGS[4:]

# Pseudo file names for facts that come from the live process, not from a file in the tree.
LIVE_COMMAND = "<live command>"
LIVE_ENV = "<process environment>"
# The words that open the pairing findings' reasons, for people (decisions read FindingCode).
HALF_FIX = "half a fix, CONN_MAX_AGE not raised"
HALF_FIX_LIVE = "half a fix, nothing patched"  # on a host: no restart into one half
OTHER_HALF = "worker switched, settings half by hand"
POOLED = "native pool, nothing to switch"
NOT_INCIDENT = "no database, nothing to switch"


class FindingCode(StrEnum):
    """What a finding is, for the code that decides on it; its reason is the words for people.
    Most findings need none: their action (patch, report, ok) says it all."""

    DEAD = "dead"  # overridden by a place that wins: not the value that runs
    KEPT_CLASS = "kept-class"  # an ASGI or custom worker class, read for certain, kept as it is
    NOT_PRODUCTION = "not-production"  # a settings file the production settings do not use
    NOT_LIVE = "not-live"  # a gunicorn command line in the tree that is not the live one
    UNREADABLE = "unreadable"  # a file that may decide a setting cannot be read
    HALF_FIX = "half-fix"  # the worker may stay gevent-style: CONN_MAX_AGE is not raised
    HALF_FIX_LIVE = "half-fix-live"  # on a host, the settings half cannot be set: nothing is patched
    OTHER_HALF = "other-half"  # the worker is switched; the settings half is for a person to add
    POOLED = "pooled"  # every production alias uses Django's native pool: the worker is left as it is
    NOT_INCIDENT = "not-incident"  # the production settings define no DATABASES: the worker is left
    NO_DATABASE = "no-database"  # the production settings module (and its imports) define no DATABASES
    SETTINGS_NOT_IN_TREE = "settings-not-in-tree"  # the settings module named (Finding.module) is not here
    GEVENT_CODE = "gevent-code"  # gevent-specific code left in place: said only when a switch lands


# The findings that say only part of the fix lands (AuditResult.half_fix).
HALF_FIXES = frozenset({FindingCode.HALF_FIX, FindingCode.HALF_FIX_LIVE, FindingCode.OTHER_HALF})


class Rank(IntEnum):
    """Precedence of proposals for one place: when deployments or aliases judge the same place
    differently, the highest rank wins (places.Proposal.rank)."""

    DEAD = 1  # overridden by a higher source: only said, never decides
    OK = 2
    REPORT = 3
    PATCH = 4
    PROTECTED = 5  # "must not change" (a native pool's CONN_MAX_AGE) beats "patch"

    @classmethod
    def of(cls, action: str) -> "Rank":
        """The rank of a finding's action: patch, report or ok."""
        return {"patch": cls.PATCH, "report": cls.REPORT, "ok": cls.OK}[action]


@dataclass
class Finding:
    """One place that decides (or could decide) a live setting, and what the tool does about it."""

    file: str
    line: Optional[int]
    setting: str
    current: Optional[str]
    proposed: Optional[str]
    action: Action
    reason: str
    default: bool = False  # `current` is gunicorn's default: no place sets it
    value: Optional[str] = None  # the value `current` shows (`X=gevent` -> gevent), when known
    code: Optional[FindingCode] = None  # what decisions read (never the reason's words)
    alias: Optional[str] = None  # the DATABASES alias a CONN_* finding is about, when one
    module: Optional[str] = None  # the settings module a finding names (SETTINGS_NOT_IN_TREE), when one

    def key(self) -> tuple:
        return (self.file, self.line, self.setting, self.action, self.reason)

    def as_json(self) -> dict:
        """The report's shape (docs/json-reports.md); `default`, `value`, `code`, `alias` and
        `module` stay internal."""
        out = asdict(self)
        del out["default"], out["value"], out["code"], out["alias"], out["module"]
        return out


@dataclass(frozen=True)
class SystemdUnit:
    """A unit as systemd itself loads it (`systemctl show`): its name (a template's instance
    included), its files in the order systemd applies them, and the specifiers it expands."""

    name: str
    files: tuple[str, ...]  # FragmentPath, then DropInPaths (tree keys)
    specifiers: tuple[tuple[str, str], ...] = ()  # ("i", "shop"), ("n", "gunicorn@shop.service"), ...
    absent: tuple[str, ...] = ()  # its EnvironmentFile= paths (as systemd names them) the host does not have


@dataclass(frozen=True)
class ComposeProject:
    """The live compose project as its containers' labels name it: its directory, where compose
    resolves the relative paths of its files (`env_file:`, `build:`) and finds `.env`
    (`--project-directory`; by default the first compose file's directory), its compose files,
    and the files it interpolates `${VAR}` from (a later one wins): that `.env`, or the
    `--env-file` ones (tree keys)."""

    directory: str
    files: tuple[str, ...]
    dotenv: tuple[str, ...]


@dataclass(frozen=True)
class EnvOverride:
    """Where the process's manager takes an environment of its own (discovery/env_override.py):
    a compose service's `environment:`, a supervisor program's `environment=` or a systemd unit's
    `Environment=`, in one of `files` (tree keys, the last one that can take it wins)."""

    kind: Literal["compose", "supervisor", "systemd"]
    name: str  # the compose service, the supervisor program (without its group), or the systemd unit
    files: tuple[str, ...]
    # a file the tool may create when none of `files` can take it (tree key): a systemd drop-in
    # of this unit alone under /etc/systemd/system, applied after every drop-in it has now
    create: Optional[str] = None


@dataclass
class Hints:
    """Live facts the SSH layer knows about the host; all optional."""

    command: Optional[str] = None
    cwd: Optional[str] = None
    config_path: Optional[str] = None
    settings_module: Optional[str] = None
    env: dict[str, str] = field(default_factory=dict)
    env_names: Optional[frozenset[str]] = None  # every variable the live process has (values: `env` only)
    versions: dict[str, str] = field(default_factory=dict)  # installed, as the app imports them
    loaded_settings: Optional[tuple[str, ...]] = None  # settings files the app's settings import loaded
    systemd_unit: Optional[SystemdUnit] = None  # the live process's unit, as systemd says it loads it
    env_override: Optional[EnvOverride] = None  # the manager's own environment, for a variable nothing sets
    compose_project: Optional[ComposeProject] = None  # the live compose project (None: each file on its own)

    def unread(self, var: str) -> bool:
        """The live process has $var, but only its name was read (its value may be a secret):
        a default in the code for it is not what runs."""
        return var not in self.env and self.env_names is not None and var in self.env_names


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] with new (start == end inserts)."""

    start: int
    end: int
    new: str
    sep: str = ""  # list items inserted at one offset (`f()` gaining two keywords) are joined with it


class EditConflict(ValueError):
    """Two edits overlap with different content."""


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits. Identical duplicates are merged; insertions at the same
    offset are concatenated in the order given."""
    unique: list[Edit] = []
    for edit in edits:
        if edit not in unique:
            unique.append(edit)
    ordered = sorted(unique, key=lambda e: (e.start, e.end))  # stable: keeps insertion order
    out: list[str] = []
    pos = 0
    previous: Optional[Edit] = None
    for edit in ordered:
        if previous is not None and edit.start < previous.end:
            raise EditConflict(f"overlapping edits at offset {edit.start}")
        if previous is not None and edit.start == previous.start and previous.start != previous.end:
            raise EditConflict(f"two replacements at offset {edit.start}")
        out.append(text[pos : edit.start])
        if (previous is not None and edit.sep and previous.sep == edit.sep and previous.start == edit.start
                and previous.start == previous.end and edit.start == edit.end):
            out.append(edit.sep)
        out.append(edit.new)
        pos = max(pos, edit.end)
        previous = edit
    out.append(text[pos:])
    return "".join(out)


def unified_diff(path: str, old: str, new: str) -> str:
    """A git-style unified diff of one file."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    chunks = []
    for line in lines:
        chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)


@dataclass
class AuditResult:
    """Findings for a tree, the patched texts of files that change, and their diff."""

    findings: list[Finding] = field(default_factory=list)
    patched: dict[str, str] = field(default_factory=dict)
    diff: str = ""
    kinds: dict[str, Optional[str]] = field(default_factory=dict)  # patched file -> its kind (validate.check)
    templated: set[str] = field(default_factory=set)  # patched files that are templates
    restarted_command: Optional[str] = None  # the live command after the restart, when a patch changes it
    restarted_env: dict[str, str] = field(default_factory=dict)  # variables a patch gives new values
    created: set[str] = field(default_factory=set)  # patched files that do not exist yet (their text was "")
    skipped: dict[str, int] = field(default_factory=dict)  # binary / large data files, counted

    def half_fix(self) -> bool:
        return any(f.code in HALF_FIXES for f in self.findings)

    def as_dict(self, path: str) -> dict:
        return {
            "path": path,
            "findings": [f.as_json() for f in self.findings],
            "diff": self.diff,
            "skipped": {k: v for k, v in self.skipped.items() if v},
        }

    def to_json(self, path: str) -> str:
        """The machine-readable report; `path` is the audited directory as given."""
        return json.dumps(self.as_dict(path), indent=2)
