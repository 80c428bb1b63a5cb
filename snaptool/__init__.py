"""snaptool: read, check, compare and write Nomad snapshot archives offline."""

__version__ = "0.1.0"
