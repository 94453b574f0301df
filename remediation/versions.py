"""Version numbers, read once: PEP 440 (packaging.version) for every version the tool compares
(installed packages the app reports, pins and bounds in requirement files)."""
from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_OPERATORS = "=~^<>! "
_NUMERIC_PREFIX = re.compile(r"v?\d+(?:\.\d+)*")


def parse_version(text: object) -> Version | None:
    """`text` as PEP 440 reads it ("4.0rc1" is 4.0rc1, "3.2b2" is 3.2b2), after any requirement
    operator ("==4.2", ">=3.2", "^4.1"); a wildcard or local spelling PEP 440 refuses ("4.2.*",
    "4.2.x") keeps its numeric prefix. None when no version can be read."""
    if text is None:
        return None
    cleaned = str(text).strip().strip("\"'").lstrip(_OPERATORS).strip("\"'")
    try:
        return Version(cleaned)
    except InvalidVersion:
        match = _NUMERIC_PREFIX.match(cleaned)
        return Version(match.group()) if match else None


def release(text: object) -> tuple[int, ...] | None:
    """The release numbers of a version ("4.0rc1" -> (4, 0)): what a feature check compares,
    since a pre-release of 4.1 already has 4.1's settings. None when no version can be read."""
    version = parse_version(text)
    return version.release if version is not None else None


def older_than(text: object, minimum: tuple[int, ...]) -> bool:
    """True when `text` is a readable version whose release is below `minimum`; False when it is
    at least that, or unknown (an unknown version is not assumed old)."""
    found = release(text)
    return found is not None and found < minimum
