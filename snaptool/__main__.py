"""``python -m snaptool``: the command line."""

from ._entry import main

main()
