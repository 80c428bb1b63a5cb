"""snaptool's exceptions: one root, one subclass per kind of trouble.

Problems *inside* an archive are not exceptions: the reader turns them into
findings (see :mod:`snaptool.findings`). These exceptions are for what stops
snaptool itself: a file it cannot open, a limit it will not pass, a manifest
it cannot read.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "LimitExceeded",
    "SnaptoolError",
    "UsageError",
]


class SnaptoolError(Exception):
    """Root of every error snaptool raises on purpose."""

    #: The CLI exit code for this kind of error.
    exit_code = 2

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InputError(SnaptoolError):
    """A file could not be opened or read (missing, a directory, no permission)."""


class UsageError(SnaptoolError):
    """The call itself is wrong: bad option values, conflicting flags."""


class LimitExceeded(SnaptoolError):
    """Reading would pass a configured resource limit (see ``Limits``)."""
