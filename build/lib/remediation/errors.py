"""Expected failures: each carries one clear line saying what and where."""
from __future__ import annotations


class RemediationError(Exception):
    """An expected failure; its message is shown to the user as-is, without a traceback."""


class InputError(RemediationError):
    """Bad input (inventory, playbook, options): names the file, the key and the line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, key: str | None = None):
        self.path, self.line, self.key = path, line, key
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")
