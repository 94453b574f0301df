"""What the per-kind locators find: gunicorn invocations, environment settings, look-alikes."""

from __future__ import annotations

import bisect
import posixpath
from dataclasses import dataclass, field
from typing import Callable, Optional

from remediation.discovery.cmdline import GunicornArgs, is_gunicorn_executable, parse_args
from remediation.discovery.model import Edit, FindingCode
from remediation.discovery.words import Mapped, Word, is_plain, split_commands

# Inserts new argument words after a given word (None: after the executable); None if impossible.
Inserter = Callable[[Optional[Word], list[str]], Optional[list[Edit]]]
# The commands of a shell `-c` string as that shell runs them (its `$VAR` expanded from the
# environment the manager gives it); the identity when the environment is not known.
Expander = Callable[[list[list[Word]]], list[list[Word]]]

RELEVANT_ENV = ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "DJANGO_SETTINGS_MODULE")
NOT_GUNICORN = {
    "uwsgi": "uWSGI",
    "uvicorn": "uvicorn",
    "granian": "granian",
    "daphne": "daphne",
    "hypercorn": "hypercorn",
    "waitress-serve": "waitress",
}
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh"}
NOT_A_RUNNER = {
    "echo", "printf", "pip", "pip3", "which", "command", "type", "pkill", "kill", "killall",
    "ps", "grep", "apt-get", "apt", "apk", "yum", "dnf", "ln", "cp", "mv", "rm", "chmod", "chown",
    "cat", "test", "[", "[[", "touch", "mkdir", "ls", "find", "sed", "awk", "pgrep", "curl",
    "wget", "tail", "head", "supervisorctl", "systemctl", "docker", "conda", "pipx",
}
RESERVED = {"then", "do", "else", "elif", "if", "while", "until", "!", "{", "time"}


class LineIndex:
    """Offset to 1-based line number for one text."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        pos = text.find("\n")
        while pos >= 0:
            self.starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


@dataclass
class Invocation:
    """One gunicorn command line found in a file."""

    file: str
    kind: str
    unit: str  # env settings of the same unit certainly apply to it
    exe: Word
    args: GunicornArgs
    insert: Inserter
    cwd: Optional[str] = None
    inline_env: dict[str, "EnvSetting"] = field(default_factory=dict)
    label: str = ""
    raw_args: Optional[GunicornArgs] = None  # the arguments as written, when variables were expanded into `args`
    inputs: tuple[str, ...] = ()  # the files those variables are set in
    unresolved: tuple[str, ...] = ()  # references left as written, with why

    @property
    def offset(self) -> int:
        return self.exe.raw_start


@dataclass
class EnvSetting:
    """NAME=value for a gunicorn-relevant variable, with the value's place in the file."""

    file: str
    kind: str
    unit: Optional[str]  # None: not tied to one command (a loose env file)
    name: str
    value: Mapped
    expands: bool = False
    offset: int = 0

    @property
    def text(self) -> str:
        return self.value.text


@dataclass
class Lookalike:
    """Something that looks like a worker setting but is not gunicorn's."""

    file: str
    offset: int
    what: str
    detail: str
    gevent: bool = False  # the look-alike itself runs gevent (matters for CONN_MAX_AGE)


@dataclass
class Issue:
    """A place that matters but cannot be analysed; becomes a `report` finding."""

    file: str
    offset: Optional[int]
    setting: str
    reason: str
    current: Optional[str] = None
    code: Optional[FindingCode] = None


@dataclass
class Located:
    """Everything one locator found in one file."""

    invocations: list[Invocation] = field(default_factory=list)
    env: list[EnvSetting] = field(default_factory=list)
    lookalikes: list[Lookalike] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    env_files: dict[str, list[str]] = field(default_factory=dict)  # unit -> env files it loads
    builds: dict[str, str] = field(default_factory=dict)  # compose service unit -> the Dockerfile of its build:

    def extend(self, other: "Located") -> None:
        self.invocations += other.invocations
        self.env += other.env
        self.lookalikes += other.lookalikes
        self.issues += other.issues
        self.builds.update(other.builds)
        for unit, files in other.env_files.items():
            self.env_files.setdefault(unit, []).extend(files)


def text_inserter(after_default: Word) -> Inserter:
    """Insert words as text right after a word inside a shell-like string."""

    def insert(after: Optional[Word], new: list[str]) -> Optional[list[Edit]]:
        anchor = after or after_default
        if not all(is_plain(w) for w in new):
            return None
        return [Edit(anchor.raw_end, anchor.raw_end, "".join(" " + w for w in new))]

    return insert


def is_assignment(word: Word) -> bool:
    name, eq, _ = word.value.partition("=")
    return bool(eq) and bool(name) and name.replace("_", "a").isalnum() and not name[0].isdigit()


@dataclass
class Found:
    """A gunicorn (or look-alike) executable inside a list of words."""

    exe_index: int
    words: list[Word]
    lookalike: Optional[str] = None
    assignments: list[Word] = field(default_factory=list)


def find_in_words(words: list[Word], expand: Optional[Expander] = None) -> list[Found]:
    """Find gunicorn started by this command, through wrappers and `sh -c '...'` (a `-c` string
    is itself a command line: `expand` gives its words as the shell sees them)."""
    i = 0
    assignments = []
    while i < len(words) and (is_assignment(words[i]) or words[i].value in RESERVED):
        if is_assignment(words[i]):
            assignments.append(words[i])
        i += 1
    if i >= len(words):
        return []
    first = posixpath.basename(words[i].value)
    if first in NOT_A_RUNNER:
        return []
    for j in range(i, len(words)):
        name = posixpath.basename(words[j].value)
        if is_gunicorn_executable(words[j].value):
            return [Found(j, words, None, assignments)]
        if name == "-m" and j + 1 < len(words) and words[j + 1].value == "gunicorn":
            return [Found(j + 1, words, None, assignments)]
        if name in NOT_GUNICORN:
            return [Found(j, words, NOT_GUNICORN[name], assignments)]
        if name in SHELLS or name == "su":
            script = _shell_script(words, j)
            if script is not None:
                found = []
                commands = split_commands(script.mapped(), shell=True)
                for command in expand(commands) if expand else commands:
                    found += find_in_words(command, expand)
                return found
        if name in NOT_A_RUNNER:
            return []
    return []


def _shell_script(words: list[Word], shell_index: int) -> Optional[Word]:
    for k in range(shell_index + 1, len(words) - 1):
        value = words[k].value
        if value.startswith("-") and not value.startswith("--") and "c" in value[1:]:
            return words[k + 1]
    return None


def invocations_in(
    commands: list[list[Word]],
    file: str,
    kind: str,
    unit: str,
    inserter: Optional[Callable[[Word], Inserter]] = None,
    cwd: Optional[str] = None,
    label: str = "",
    expand: Optional[Expander] = None,
) -> Located:
    """Turn shell-like commands into invocations and look-alikes (`expand`: see find_in_words)."""
    located = Located()
    make_inserter = inserter or text_inserter
    for command in commands:
        for found in find_in_words(command, expand):
            exe = found.words[found.exe_index]
            if found.lookalike:
                located.lookalikes.append(
                    Lookalike(file, exe.raw_start, found.lookalike,
                              " ".join(w.value for w in found.words[found.exe_index:])[:120])
                )
                continue
            argv = found.words[found.exe_index + 1 :]
            inv = Invocation(file, kind, unit, exe, parse_args(argv), make_inserter(exe), cwd,
                             label=label)
            for word in found.assignments:
                name, _, _ = word.value.partition("=")
                if name in RELEVANT_ENV:
                    start = len(name) + 1
                    value = Mapped(word.value[start:], word.offsets[start:], word.raw_end)
                    inv.inline_env[name] = EnvSetting(file, kind, unit, name, value, word.expands,
                                                      word.raw_start)
            located.invocations.append(inv)
    return located


ListRender = Callable[[Word, list[str]], Optional[list[Edit]]]


def list_inserter(elements: list[Word], render: ListRender) -> Callable[[Word], Inserter]:
    """Inserter factory for argv stored as a list (JSON array, YAML sequence).

    Words that are list elements get new elements after them; words found inside an element
    (`["sh", "-c", "gunicorn ..."]`) get text inserted inside that string.
    """
    starts = {w.raw_start for w in elements}

    def factory(exe: Word) -> Inserter:
        def insert(after: Optional[Word], new: list[str]) -> Optional[list[Edit]]:
            anchor = after or exe
            if anchor.raw_start in starts and anchor.raw_end in {w.raw_end for w in elements}:
                return render(anchor, new)
            return text_inserter(exe)(anchor, new)

        return insert

    return factory
