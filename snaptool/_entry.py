"""The ``snaptool`` console script and ``python -m snaptool``.

The command line is imported inside a guard: Ctrl-C while Python is still
importing ends quietly with status 130, as an interrupt does once the
command runs, instead of printing a traceback of the import machinery.
"""

from __future__ import annotations


def main() -> None:
    try:
        from .cli import run
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    run()
