"""The document's tables, spooled to files while records stream by, then
assembled into one JSON document.

Each table's file holds its objects already printed, indented to their
place in the document and each preceded by a comma and a line break, so the
assembly only copies bytes (the first object's comma is skipped). Appends
use ``O_APPEND`` descriptors, so forked workers that take turns append to the
same files.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
from typing import IO, Any

from .selection import NOMAD_TABLES

__all__ = ["Spools", "write_document"]

_COPY_CHUNK = 1 << 20


class Spools:
    """Per-table spool files in ``directory``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._fds: dict[str, int] = {}

    def path(self, table: str) -> str:
        return os.path.join(self.directory, table + ".json")

    def append(self, entries: list[tuple[str, bytes]]) -> dict[str, int]:
        """Append printed objects to their tables; returns how many each got
        (tables in the order they first appear)."""
        grouped: dict[str, list[bytes]] = {}
        for table, data in entries:
            grouped.setdefault(table, []).append(data)
        for table, parts in grouped.items():
            fd = self._fds.get(table)
            if fd is None:
                fd = self._fds[table] = os.open(self.path(table), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            data = memoryview(b"".join(parts))
            while data:
                data = data[os.write(fd, data) :]
        return {table: len(parts) for table, parts in grouped.items()}

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def merge_counts(reports: list[dict[str, int]]) -> dict[str, int]:
    """Objects per table over all blocks, tables in first-seen order."""
    counts: dict[str, int] = {}
    for report in reports:
        for table, n in report.items():
            counts[table] = counts.get(table, 0) + n
    return counts


def write_document(out: IO[str], spools: Spools, counts: dict[str, int], meta: Any, indent: int) -> None:
    """The document: every table, in name order (Nomad's, those records
    filled, and SnapshotMeta), each a JSON array."""
    names = set(NOMAD_TABLES) | set(counts) | {"SnapshotMeta"}
    pad = " " * indent
    out.write("{")
    for i, name in enumerate(sorted(names)):
        out.write("," if i else "")
        out.write(f"\n{pad}{json.dumps(name)}: [")
        n = counts.get(name, 0)
        if name == "SnapshotMeta" and meta is not None:
            text = json.dumps(meta, ensure_ascii=False, indent=indent).replace("\n", "\n" + pad * 2)
            out.write(f"\n{pad * 2}{text}")
            n = 1
        elif n:
            _copy(spools.path(name), out)
        out.write(f"\n{pad}]" if n else "]")
    out.write("\n}\n")


def _copy(path: str, out: IO[str]) -> None:
    """A spool's objects, without the comma before the first, into ``out``:
    as bytes when ``out`` is UTF-8 over a binary buffer, else as text."""
    buffer = getattr(out, "buffer", None)
    encoding = getattr(out, "encoding", None)
    if buffer is not None and encoding and codecs.lookup(encoding).name == "utf-8":
        out.flush()
        with open(path, "rb") as f:
            f.seek(1)
            shutil.copyfileobj(f, buffer, _COPY_CHUNK)
        buffer.flush()
        return
    with open(path, encoding="utf-8") as f:
        f.read(1)
        while chunk := f.read(_COPY_CHUNK):
            out.write(chunk)
