"""``python -m snaptool``: the command line."""

from .cli import run

run()
