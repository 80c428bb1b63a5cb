"""Multistream gzip inflate with Go's ``compress/gzip`` acceptance rules.

Strategy: member headers and trailers are parsed with the construct
declarations in :mod:`snaptool.format.gzip`; the deflate data in between goes
through a raw-deflate ``decompressobj`` (python-isal when installed, else
zlib-ng, else the standard library), whose output is capped per call so a
gzip bomb never holds more than one chunk in memory.

Go's reader, mirrored here:

* the first member's header must be valid (an empty file is ``EOF``, a short
  one ``unexpected EOF``, wrong magic or method ``gzip: invalid header``);
* each member ends with CRC-32 and ISIZE, checked (``gzip: invalid checksum``);
* after a member, end of file is a clean end; 1 to 9 more bytes are
  ``unexpected EOF``; 10 or more that are not a gzip header are
  ``gzip: invalid header``; another valid member is read on (multistream).

Problems are reported to ``report`` as findings; the generator then stops.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from construct import ConstError, StreamError

from ..findings import Finding
from ..format.gzip import GO_HEADER, MAX_HEADER_STRING, GzipHeader, GzipTrailer

__all__ = ["CHUNK", "OUT_CHUNK", "inflate", "zlib_impl"]

import zlib as _std_zlib

try:  # the fastest well-kept inflate available: ISA-L, then zlib-ng, then zlib
    from isal import igzip_lib as _igzip_lib
    from isal import isal_zlib as zlib_impl
except ImportError:  # pragma: no cover - depends on the environment
    _igzip_lib = None
    try:
        from zlib_ng import zlib_ng as zlib_impl
    except ImportError:
        zlib_impl = _std_zlib


class _RawInflate:
    """Raw deflate with capped output, over ISA-L's decompressor when
    installed (about a third faster than its zlib-compatible object), else a
    zlib-style ``decompressobj``."""

    def __init__(self) -> None:
        self.tail = b""
        self.full = False
        if _igzip_lib is not None:
            self.d = _igzip_lib.IgzipDecompressor(flag=_igzip_lib.DECOMP_DEFLATE)
            self.errors: tuple[type[BaseException], ...] = (_igzip_lib.error, ValueError)
        else:
            self.d = zlib_impl.decompressobj(-15)
            self.errors = (zlib_impl.error, _std_zlib.error)

    def wants_input(self) -> bool:
        if _igzip_lib is not None:
            return bool(self.d.needs_input)
        return not self.tail and not self.full

    def decompress(self, data: bytes) -> bytes:
        if _igzip_lib is not None:
            return self.d.decompress(data, OUT_CHUNK)
        out = self.d.decompress(self.tail + data if self.tail else data, OUT_CHUNK)
        self.tail = self.d.unconsumed_tail
        self.full = len(out) == OUT_CHUNK
        return out

    @property
    def eof(self) -> bool:
        return bool(self.d.eof)

    def leftover(self) -> bytes:
        return self.d.unused_data + self.tail

#: Compressed bytes read per call.
CHUNK = 1 << 20

#: The cap on output per inflate call: the most decompressed data held at
#: once per chunk. Fewer, larger chunks cost less per byte downstream (2 MiB
#: against 1 MiB: a few percent off a threaded verify; 8 MiB is slower).
OUT_CHUNK = 2 << 20

#: Bytes after the last gzip member are counted up to this many.
TRAILING_WINDOW = 1 << 20

Report = Callable[[Finding], None]


class _Source:
    """Compressed input with a read-ahead buffer and an absolute offset."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.buf = b""
        self.offset = 0  # file offset of buf[0]
        self.eof = False

    def fill(self, need: int) -> bool:
        """Make at least ``need`` bytes available; False if the file ends first."""
        while len(self.buf) < need and not self.eof:
            more = self.f.read(max(CHUNK, need - len(self.buf)))
            if not more:
                self.eof = True
            else:
                self.buf += more
        return len(self.buf) >= need

    def take(self, n: int) -> bytes:
        data, self.buf = self.buf[:n], self.buf[n:]
        self.offset += n
        return data

    def read_chunk(self) -> bytes:
        if not self.buf and not self.eof:
            self.fill(1)
        return self.take(len(self.buf))

    def push_back(self, data: bytes) -> None:
        self.buf = data + self.buf
        self.offset -= len(data)


def _parse_header(src: _Source) -> tuple[object, int] | str:
    """Parse a member header at the read position: (header, length) or an
    error word: ``eof``, ``short`` (1-9 bytes), ``magic``, ``truncated``,
    ``bad`` (string too long or header CRC wrong)."""
    if not src.fill(10):
        return "eof" if not src.buf else "short"
    if src.buf[:3] != b"\x1f\x8b\x08":
        return "magic"
    while True:
        stream = io.BytesIO(src.buf)
        try:
            header = GzipHeader.parse_stream(stream)
        except (StreamError, ConstError):
            if _string_too_long(src.buf):  # the one way a header grows without end
                return "bad"
            if not src.fill(len(src.buf) + 1):
                return "truncated"
            continue
        length = stream.tell()
        for text in (header.fname, header.fcomment):
            if text is not None and len(text) > MAX_HEADER_STRING:
                return "bad"
        if header.hcrc is not None:
            crc = _std_zlib.crc32(src.buf[: length - 2]) & 0xFFFF
            if crc != header.hcrc:
                return "bad"
        return header, length


def _string_too_long(buf: bytes) -> bool:
    """Go reads FNAME and FCOMMENT into a 512-byte buffer: 512 bytes with
    no NUL among them make an invalid header, whatever follows (a file that
    ends after them is not "unexpected EOF"). Looked at in the bytes read so
    far, so the answer does not depend on how the input was cut into reads."""
    if len(buf) < 10:
        return False
    flags, at = buf[3], 10
    if flags & 0x04:  # FEXTRA: its length, then that many bytes
        if len(buf) < 12:
            return False
        at += 2 + int.from_bytes(buf[10:12], "little")
    for flag in (0x08, 0x10):  # FNAME, then FCOMMENT
        if flags & flag:
            end = buf.find(b"\0", at, at + MAX_HEADER_STRING + 1)
            if end < 0:
                return len(buf) - at >= MAX_HEADER_STRING + 1
            at = end + 1
    return False


def inflate(f: BinaryIO, report: Report) -> Iterator[bytes]:
    """Yield the decompressed bytes of every member of a gzip file."""
    src = _Source(f)
    members = 0
    while True:
        at = src.offset
        parsed = _parse_header(src)
        if isinstance(parsed, str):
            _header_problem(parsed, members, at, src, report)
            return
        header, length = parsed
        raw_header = src.take(length)
        if members == 0 and raw_header != GO_HEADER:
            report(
                Finding(
                    "gzip.header-fields",
                    f"gzip header is {raw_header[:10].hex()}"
                    f"{' with optional fields' if length > 10 else ''}, "
                    f"Go writes {GO_HEADER.hex()}",
                    member="gzip",
                    offset=at,
                )
            )
        if members == 1:
            report(
                Finding(
                    "gzip.multi-member",
                    "a second gzip member follows the first (Go reads on: multistream)",
                    member="gzip",
                    offset=at,
                )
            )
        ok = yield from _inflate_member(src, report)
        if not ok:
            return
        members += 1


def _header_problem(kind: str, members: int, at: int, src: _Source, report: Report) -> None:
    if kind == "eof":
        if members == 0:
            report(Finding("input.empty", "the file is empty", nomad="EOF"))
        return
    if members > 0:
        # counted up to a fixed window, so that the number does not depend on
        # how the input was cut into reads (a pipe's pieces vary)
        more = src.fill(TRAILING_WINDOW + 1)
        remaining = min(len(src.buf), TRAILING_WINDOW)
        detail = "unexpected EOF" if kind == "short" else "gzip: invalid header"
        report(
            Finding(
                "gzip.trailing-bytes",
                f"{'more than ' if more else ''}{remaining} bytes after the end of "
                f"gzip member {members} that are not another gzip member",
                member="gzip",
                offset=at,
                nomad=detail,
            )
        )
        return
    if kind in ("short", "truncated"):
        report(
            Finding(
                "gzip.truncated",
                "the file ends inside the gzip header",
                member="gzip",
                offset=at,
                nomad="unexpected EOF",
            )
        )
    elif kind == "magic":
        report(
            Finding(
                "input.not-gzip",
                "not gzip data (expected 1f 8b 08 at the start)",
                member="gzip",
                offset=0,
                nomad="gzip: invalid header",
            )
        )
    else:
        report(
            Finding(
                "gzip.bad-header",
                "invalid gzip header (name or comment too long, or header CRC wrong)",
                member="gzip",
                offset=at,
                nomad="gzip: invalid header",
            )
        )


def _inflate_member(src: _Source, report: Report) -> Iterator[bytes]:
    """Inflate one member's deflate data and check its trailer."""
    d = _RawInflate()
    crc = 0
    size = 0
    at = src.offset
    while True:
        data = b""
        if d.wants_input():
            at = src.offset
            data = src.read_chunk()
            if not data:
                report(
                    Finding(
                        "gzip.truncated",
                        f"the file ends inside deflate data after {size} "
                        "decompressed bytes (no gzip trailer)",
                        member="gzip",
                        offset=src.offset,
                        nomad="unexpected EOF",
                    )
                )
                return False
        try:
            out = d.decompress(data)
        except d.errors as exc:
            report(
                Finding(
                    "gzip.bad-deflate",
                    f"corrupt deflate data ({exc})",
                    member="gzip",
                    offset=at,
                    nomad="flate: corrupt input",
                )
            )
            return False
        if out:
            crc = zlib_impl.crc32(out, crc)
            size += len(out)
            yield out
        if d.eof:
            src.push_back(d.leftover())
            break
    trailer_at = src.offset
    if not src.fill(8):
        report(
            Finding(
                "gzip.truncated",
                f"the gzip trailer is cut short ({len(src.buf)} of 8 bytes)",
                member="gzip",
                offset=trailer_at,
                nomad="unexpected EOF",
            )
        )
        return False
    trailer = GzipTrailer.parse(src.take(8))
    if trailer.crc32 != crc & 0xFFFFFFFF:
        report(
            Finding(
                "gzip.crc-mismatch",
                f"CRC-32 in trailer is {trailer.crc32:08x}, data gives {crc & 0xFFFFFFFF:08x}",
                member="gzip",
                offset=trailer_at,
                nomad="gzip: invalid checksum",
            )
        )
        return False
    if trailer.isize != size & 0xFFFFFFFF:
        report(
            Finding(
                "gzip.isize-mismatch",
                f"ISIZE in trailer is {trailer.isize}, data is {size} bytes",
                member="gzip",
                offset=trailer_at + 4,
                nomad="gzip: invalid checksum",
            )
        )
        return False
    return True
