"""Env files (`.env`, `*.env`, `.envs/...`, systemd EnvironmentFile): KEY=value lines."""

from __future__ import annotations

from typing import Optional

from remediation.discovery.words import Mapped
from remediation.discovery.sources.base import EnvSetting, Located


def unquote(value: Mapped) -> Mapped:
    """Strip one pair of matching quotes around a value."""
    text = value.text
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return value.sub(1, len(text) - 1)
    return value


def env_line(text: str, start: int, end: int) -> Optional[tuple[str, Mapped, int]]:
    """Parse one `[export ]KEY=value` line into name, mapped value and the line's offset."""
    line = Mapped.region(text, start, end)
    body = line.text
    lead = len(body) - len(body.lstrip())
    stripped = body.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith("export "):
        lead = body.index("export ") + len("export ")
        lead += len(body[lead:]) - len(body[lead:].lstrip())
    name, eq, rest = body[lead:].partition("=")
    if not eq or not name.strip().replace("_", "a").isalnum():
        return None
    value_start = lead + len(name) + 1
    value = line.sub(value_start)
    raw = value.text
    if raw and raw[0] in "'\"":
        close = raw.find(raw[0], 1)
        if close > 0:
            return name.strip(), value.sub(1, close), start
    comment = raw.find(" #")
    if comment >= 0:
        value = value.sub(0, comment)
    stripped_value = value.text.rstrip()
    lead_ws = len(stripped_value) - len(stripped_value.lstrip())
    return name.strip(), value.sub(lead_ws, len(stripped_value)), start


def locate_env_file(path: str, text: str, unit: Optional[str] = None) -> Located:
    """Every gunicorn-relevant KEY=value in an env file."""
    located = Located()
    pos = 0
    for line in text.splitlines(keepends=True):
        parsed = env_line(text, pos, pos + len(line.rstrip("\r\n")))
        pos += len(line)
        if parsed:
            name, value, offset = parsed
            located.env.append(EnvSetting(path, "env-file", unit, name, value, "$" in value.text,
                                          offset))
    return located
