"""Writing archives in Nomad's shape (``helper/snapshot`` ``write()``).

USTAR headers exactly as Go's ``tar.Writer`` writes Nomad's entries, data
padded to 512 bytes, exactly two end blocks and no record padding; one gzip
member with Go's ten header bytes; SHA256SUMS lines ``%x  %s\\n``. The
deflate stream itself comes from zlib and is not Go's byte for byte (no
reader can tell: see the spec's Limitations).
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from ..format.gzip import GO_HEADER
from ..format.sums import canonical_line
from ..format.tar import BLOCK, go_header

__all__ = ["SUMS_ORDER", "atomic_write", "gzip_member", "sums_text", "tar_bytes", "archive_bytes"]

#: The SHA256SUMS line order snaptool writes (Nomad's is random: a Go map).
SUMS_ORDER = ("meta.json", "state.bin")


def tar_bytes(entries: Iterable[tuple[str, bytes]], mtime: int, *, end_blocks: int = 2) -> bytes:
    """A tar of ``entries`` as Go's writer makes it."""
    out = bytearray()
    for name, data in entries:
        out += go_header(name, len(data), mtime)
        out += data
        out += bytes((-len(data)) % BLOCK)
    out += bytes(BLOCK * end_blocks)
    return bytes(out)


def gzip_member(data: bytes, level: int = 6) -> bytes:
    """One gzip member with Go's header bytes."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return GO_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def sums_text(files: dict[str, bytes], order: Iterable[str] = SUMS_ORDER) -> bytes:
    return b"".join(canonical_line(hashlib.sha256(files[n]).digest(), n) for n in order)


def archive_bytes(meta_json: bytes, state: bytes, mtime: int = 0) -> bytes:
    """A complete archive: meta.json, state.bin, SHA256SUMS, gzipped."""
    files = {"meta.json": meta_json, "state.bin": state}
    tar = tar_bytes(
        [("meta.json", meta_json), ("state.bin", state), ("SHA256SUMS", sums_text(files))],
        mtime,
    )
    return gzip_member(tar)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into
    place; an existing file is replaced only with ``force``."""
    target = Path(path)
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists (use --force to replace it)")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
