"""Writing a built archive: the output file's rules and the default mtime."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SnaptoolError
from ..stream.writer import atomic_write


class OutputError(SnaptoolError):
    """The output cannot be written (exists without --force, is the input)."""


def default_mtime() -> int:
    """``SOURCE_DATE_EPOCH`` when set (an integer), else 0."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise SnaptoolError(f"SOURCE_DATE_EPOCH is not an integer: {text!r}") from None
    if value < 0:
        raise SnaptoolError(f"SOURCE_DATE_EPOCH is negative: {value}")
    return value


def _write(target: Path, data: bytes, *, force: bool, inputs: tuple[Path, ...]) -> None:
    for src in inputs:
        try:
            if target.exists() and os.path.samefile(target, src):
                raise OutputError("is the base archive; snaptool never overwrites its input", where=str(target))
        except OSError:
            pass
    if target.is_dir():
        raise OutputError("is a directory", where=str(target))
    if not target.parent.is_dir() and str(target.parent) not in ("", "."):
        raise OutputError(f"directory {target.parent} does not exist", where=str(target))
    try:
        atomic_write(target, data, force=force)
    except FileExistsError:
        raise OutputError("exists (use --force to replace it)", where=str(target)) from None
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc), where=str(target)) from None
