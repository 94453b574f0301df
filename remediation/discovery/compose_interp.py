"""Compose interpolation of one `environment:` value (pure): `${VAR}`, `${VAR:-default}`,
`${VAR-default}` or `$VAR` as the whole value. Compose takes VAR from the shell that runs it,
then from the project's `.env` (beside the first compose file unless another project directory
or --env-file is given); the default applies when neither sets it (`:-` also when empty).
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Optional

from remediation.discovery.model import ComposeProject

WHOLE = re.compile(r"^\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}$]*))?\}"
                   r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))$")


@dataclass(frozen=True)
class Reference:
    var: str
    default: Optional[str]  # None: no default
    default_start: Optional[int]  # offset of the default inside the value text


def reference(value: str) -> Optional[Reference]:
    """The variable a value is made of, or None when it is anything else (text around it,
    `:?` errors, nested references): those stay 'expanded at run time'."""
    match = WHOLE.match(value)
    if not match:
        return None
    if match.group("bare"):
        return Reference(match.group("bare"), None, None)
    if match.group("op") is None:
        return Reference(match.group("braced"), None, None)
    return Reference(match.group("braced"), match.group("default"), match.start("default"))


def project_env_file(compose_file: str) -> str:
    """The `.env` compose reads for interpolation when run with this compose file alone (its
    directory is then the project directory)."""
    return posixpath.join(posixpath.dirname(compose_file), ".env")


def dotenv_files(compose_file: str, project: Optional[ComposeProject]) -> tuple[str, ...]:
    """The files compose interpolates `${VAR}` from, a later one winning: those the live project
    names for its own compose files (its directory's .env, or the --env-file ones), else the .env
    beside the compose file (a checkout: no project was asked)."""
    if project is not None and compose_file in project.files:
        return project.dotenv
    return (project_env_file(compose_file),)


def compose_base(compose_file: str, project: Optional[ComposeProject]) -> str:
    """The directory compose resolves a compose file's relative paths against: the live project's
    directory for its own files, else the file's directory."""
    if project is not None and compose_file in project.files:
        return project.directory
    return posixpath.dirname(compose_file)


def dotenv_values(texts_by_file: dict[str, dict[str, str]], files: tuple[str, ...]) -> dict[str, str]:
    """NAME -> value as compose reads `files` in order (a later file's value wins)."""
    out: dict[str, str] = {}
    for path in files:
        out.update(texts_by_file.get(path, {}))
    return out


def resolved(kind: str, file: str, text: str, dotenv: dict[str, str]) -> str:
    """The value compose gives the container for an `environment:` entry, when the shell that runs
    compose sets nothing: a whole-value reference taken from the project's .env (`dotenv`, its
    NAME=value lines) or its default; any other text as it is."""
    ref = reference(text) if kind == "compose" else None
    if ref is None:
        return text
    if ref.var in dotenv:
        return dotenv[ref.var]
    return ref.default if ref.default is not None else ""
