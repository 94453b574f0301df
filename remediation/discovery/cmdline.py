"""gunicorn command-line arguments: which words set which setting, and in-place value edits.

Mirrors gunicorn's argparse parser: `-k X`, `-kX`, `--worker-class X`, `--worker-class=X`,
unique prefixes of long options (argparse's allow_abbrev), the last occurrence wins.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Optional

from remediation.discovery.model import Edit
from remediation.discovery.words import Mapped, Word, is_plain, split_words

SETTING_FLAGS = {
    "worker_class": ("-k", "--worker-class"),
    "workers": ("-w", "--workers"),
    "threads": ("--threads",),
    "worker_connections": ("--worker-connections",),
}
CANONICAL_FLAG = {s: flags[-1] for s, flags in SETTING_FLAGS.items()}

BOOLEAN_LONG = {
    "--reload", "--spew", "--check-config", "--print-config", "--preload", "--no-sendfile",
    "--reuse-port", "--daemon", "--initgroups", "--capture-output", "--log-syslog",
    "--enable-stdio-inheritance", "--proxy-protocol", "--suppress-ragged-eofs",
    "--do-handshake-on-connect", "--strip-header-spaces", "--disable-redirect-access-to-syslog",
    "--version", "--help", "--permit-obsolete-folding", "--permit-unconventional-http-method",
    "--permit-unconventional-http-version", "--casefold-http-method", "--no-control-socket",
}
VALUE_LONG = {
    "--config", "--bind", "--backlog", "--workers", "--worker-class", "--threads",
    "--worker-connections", "--max-requests", "--max-requests-jitter", "--timeout",
    "--graceful-timeout", "--keep-alive", "--limit-request-line", "--limit-request-fields",
    "--limit-request-field_size", "--reload-engine", "--reload-extra-file", "--chdir", "--user",
    "--group", "--umask", "--worker-tmp-dir", "--forwarded-allow-ips", "--access-logfile",
    "--access-logformat", "--error-logfile", "--log-file", "--log-level", "--logger-class",
    "--log-config", "--log-config-json", "--log-syslog-to", "--log-syslog-prefix",
    "--log-syslog-facility", "--statsd-host", "--dogstatsd-tags", "--statsd-prefix", "--name",
    "--pythonpath", "--paste", "--paster", "--proxy-allow-from", "--keyfile", "--certfile",
    "--ssl-version", "--cert-reqs", "--ca-certs", "--ciphers", "--env", "--pid",
    "--raw-paste-global", "--header-map", "--forwarder-headers", "--control-socket",
    "--control-socket-mode", "--worker-restart-strategy",
}
BOOLEAN_SHORT = {"-D", "-R", "-v", "-h"}
VALUE_SHORT = {"-c", "-b", "-w", "-k", "-t", "-u", "-g", "-m", "-n", "-e", "-p"}
SHORT_TO_LONG = {"-c": "--config", "-w": "--workers", "-k": "--worker-class", "-e": "--env"}
FLAG_SETTING = {flag: s for s, flags in SETTING_FLAGS.items() for flag in flags}
FLAG_SETTING["--config"] = FLAG_SETTING["-c"] = "config"
FLAG_SETTING["--env"] = FLAG_SETTING["-e"] = "env"
FLAG_SETTING["--pythonpath"] = "pythonpath"
LONG_OPTIONS = sorted(BOOLEAN_LONG | VALUE_LONG)


@dataclass(frozen=True)
class Occurrence:
    """One flag that sets a setting: the word holding the value and where the value starts."""

    setting: str
    flag: str
    value: str
    flag_index: int
    value_index: int
    value_start: int = 0  # offset of the value inside its word (`--workers=4`, `-w4`)


@dataclass
class GunicornArgs:
    """What one gunicorn argument list sets."""

    words: list[Word]
    occurrences: dict[str, list[Occurrence]] = field(default_factory=dict)
    app: Optional[str] = None
    problems: list[str] = field(default_factory=list)
    preload: bool = False
    passthrough: bool = False  # "$@" or similar: more arguments arrive at run time

    def last(self, setting: str) -> Optional[Occurrence]:
        found = self.occurrences.get(setting)
        return found[-1] if found else None

    def env_pairs(self) -> dict[str, str]:
        pairs = {}
        for occ in self.occurrences.get("env", []):
            key, _, value = occ.value.partition("=")
            pairs[key] = value
        return pairs

    def values(self) -> dict[str, str]:
        """Effective value per setting set on this argument list (last occurrence wins)."""
        return {s: occ[-1].value for s, occ in self.occurrences.items() if s in SETTING_FLAGS}


def resolve_long(option: str) -> tuple[Optional[str], Optional[str]]:
    """The full option an argparse prefix names, or a problem description."""
    if option in BOOLEAN_LONG or option in VALUE_LONG:
        return option, None
    matches = [o for o in LONG_OPTIONS if o.startswith(option)]
    if len(matches) == 1:
        return matches[0], None
    if matches:
        return None, f"ambiguous option {option} ({', '.join(matches)})"
    return None, None


def parse_args(words: list[Word]) -> GunicornArgs:
    """Classify gunicorn arguments the way gunicorn's argparse parser does."""
    args = GunicornArgs(words)
    i = 0

    def record(flag: str, value_index: int, value_start: int, flag_index: int) -> None:
        setting = FLAG_SETTING.get(flag)
        if setting is None:
            return
        value = words[value_index].value[value_start:]
        args.occurrences.setdefault(setting, []).append(
            Occurrence(setting, flag, value, flag_index, value_index, value_start)
        )

    while i < len(words):
        word = words[i].value
        if word in ("$@", "$*") or (words[i].expands and word in ("${@}", "${*}")):
            args.passthrough = True
        elif word == "--":
            args.app = args.app or (words[i + 1].value if i + 1 < len(words) else None)
            break
        elif word.startswith("--"):
            name, eq, _ = word.partition("=")
            full, problem = resolve_long(name)
            if problem:
                args.problems.append(problem)
            if full == "--preload":
                args.preload = True
            if full in VALUE_LONG or (full is None and not eq and name not in BOOLEAN_LONG):
                if eq:
                    record(full or name, i, len(name) + 1, i)
                elif i + 1 < len(words):
                    record(full or name, i + 1, 0, i)
                    i += 1
                else:
                    args.problems.append(f"{name} has no value")
        elif word.startswith("-") and len(word) > 1:
            short = word[:2]
            if short in VALUE_SHORT:
                if len(word) > 2:
                    record(short, i, 3 if word[2] == "=" else 2, i)
                elif i + 1 < len(words):
                    record(short, i + 1, 0, i)
                    i += 1
                else:
                    args.problems.append(f"{short} has no value")
            elif short in BOOLEAN_SHORT and len(word) > 2 and word[2:3] in {s[1] for s in VALUE_SHORT}:
                args.problems.append(f"combined short options {word} are not supported")
        elif args.app is None:
            args.app = word
        i += 1
    return args


def config_reference(value: str) -> tuple[str, str]:
    """Split a -c value into ('file'|'python', target)."""
    if value.startswith("python:"):
        return "python", value[len("python:") :]
    if value.startswith("file:"):
        return "file", value[len("file:") :]
    return "file", value


def value_edit(args: GunicornArgs, occ: Occurrence, new: str) -> Optional[Edit]:
    """Replace the value of one occurrence in place, or None if it cannot be done verbatim."""
    if not is_plain(new):
        return None
    word = args.words[occ.value_index]
    if word.expands:
        return None
    span = word.span(occ.value_start, len(word.value))
    if span is None:
        return None
    return Edit(span[0], span[1], new)


def split_cmd_args(value: Mapped) -> GunicornArgs:
    """Parse the value of GUNICORN_CMD_ARGS (gunicorn splits it with shlex)."""
    return parse_args(split_words(value))


def is_gunicorn_executable(word: str) -> bool:
    name = posixpath.basename(word)
    # gunicorn_django: gunicorn's own Django runner (before 19.0), same flags
    return name in ("gunicorn", "gunicorn3", "gunicorn_django") or name.startswith("gunicorn-3")


def plain_words(argv: list[str]) -> list[Word]:
    """Words of an argument list that is already split (a live process's argv)."""
    words, offset = [], 0
    for value in argv:
        words.append(Word(value, range(offset, offset + len(value)), offset, offset + len(value)))
        offset += len(value) + 1
    return words


def config_argument(argv: list[str]) -> Optional[str]:
    """The `-c`/`--config` value gunicorn takes from these arguments (the last one wins), parsed
    as gunicorn's argparse does (`-c X`, `-cX`, `--config=X`, `--conf X`); None without one."""
    occ = parse_args(plain_words(argv)).last("config")
    return occ.value if occ else None
