"""The gzip member header and trailer (RFC 1952), as Go reads and writes them.

Go's ``compress/gzip`` reader checks the two magic bytes and the deflate
method, reads FEXTRA, FNAME and FCOMMENT when flagged (a name or comment
longer than 511 bytes is an invalid header), checks FHCRC when flagged, and
ignores the reserved flag bits, MTIME, XFL and OS. At the end of a member it
checks CRC-32 and ISIZE. Its writer always emits the ten bytes in
:data:`GO_HEADER`.
"""

from __future__ import annotations

from construct import (
    Const,
    FlagsEnum,
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int32ul,
    NullTerminated,
    Prefixed,
    Struct,
    this,
)

__all__ = ["GO_HEADER", "GzipHeader", "GzipTrailer", "MAX_HEADER_STRING"]

#: ``gzip.NewWriter``'s header: no optional fields, MTIME 0, XFL 0, OS 255.
GO_HEADER = bytes.fromhex("1f8b08000000000000ff")

#: Go's reader keeps FNAME and FCOMMENT in a 512-byte buffer with their NUL.
MAX_HEADER_STRING = 511

GzipFlags = FlagsEnum(
    Int8ul, FTEXT=0x01, FHCRC=0x02, FEXTRA=0x04, FNAME=0x08, FCOMMENT=0x10
)

GzipHeader = Struct(
    "magic" / Const(b"\x1f\x8b"),
    "method" / Const(8, Int8ul),
    "flags" / GzipFlags,
    "mtime" / Int32ul,
    "xfl" / Int8ul,
    "os" / Int8ul,
    "extra" / If(this.flags.FEXTRA, Prefixed(Int16ul, GreedyBytes)),
    "fname" / If(this.flags.FNAME, NullTerminated(GreedyBytes)),
    "fcomment" / If(this.flags.FCOMMENT, NullTerminated(GreedyBytes)),
    "hcrc" / If(this.flags.FHCRC, Int16ul),
)

GzipTrailer = Struct(
    "crc32" / Int32ul,
    "isize" / Int32ul,
)
