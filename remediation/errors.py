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


class HostUnreachable(RemediationError):
    """The host could not be reached or logged in to."""


class RemoteError(RemediationError):
    """A command or agent operation on the host failed."""


class RestartError(RemoteError):
    """The restart command failed or the app did not serve again in time."""


class NoSingleMaster(RemediationError, LookupError):
    """The host runs no gunicorn master, or more than one where one is needed."""


class LockHeld(RemediationError):
    """Another run holds the host's lock."""


class StageError(RemediationError):
    """A step of the host flow failed; carries the stage name."""

    def __init__(self, stage: str, message: str):
        self.stage = stage
        super().__init__(message)
