"""Tar headers (USTAR, PAX, GNU, V7) as Go's ``archive/tar`` reads them.

The 512-byte block layout is declared with construct; the field semantics
follow Go's reader (``reader.go`` and ``strconv.go``), which is what Nomad's
snapshot reader uses:

* a header is valid when its checksum field equals the unsigned or the signed
  sum of the block with the checksum field read as spaces;
* numbers are octal, with spaces and NULs trimmed at both ends (an empty field
  is 0), or base-256 when the first byte has its high bit set;
* strings end at the first NUL; USTAR and PAX prefix ``name`` with ``prefix``;
* the format is USTAR/PAX for magic ``ustar\\0``, GNU for ``ustar  \\0``,
  otherwise V7;
* header-only typeflags (links, devices, directories, FIFOs) carry no data,
  whatever their size field says.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Struct

__all__ = [
    "BLOCK",
    "HEADER_ONLY_TYPES",
    "TarBlock",
    "TarHeader",
    "TarHeaderError",
    "go_header",
    "parse_header",
    "parse_pax",
]

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)

TarBlock = Struct(
    "name" / Bytes(100),
    "mode" / Bytes(8),
    "uid" / Bytes(8),
    "gid" / Bytes(8),
    "size" / Bytes(12),
    "mtime" / Bytes(12),
    "chksum" / Bytes(8),
    "typeflag" / Bytes(1),
    "linkname" / Bytes(100),
    "magic" / Bytes(6),
    "version" / Bytes(2),
    "uname" / Bytes(32),
    "gname" / Bytes(32),
    "devmajor" / Bytes(8),
    "devminor" / Bytes(8),
    "prefix" / Bytes(155),
    "pad" / Bytes(12),
)

#: Typeflags Go's reader gives no data: hard link, symlink, char and block
#: devices, directory, FIFO.
HEADER_ONLY_TYPES = frozenset(b"12345" + b"6")

MAGIC_USTAR = b"ustar\x00"
MAGIC_GNU = b"ustar "
VERSION_GNU = b" \x00"


class TarHeaderError(ValueError):
    """Go's ``archive/tar: invalid tar header`` (ErrHeader)."""


@dataclass(frozen=True)
class TarHeader:
    """The header fields snaptool needs, decoded as Go decodes them."""

    name: str
    raw_name: bytes
    typeflag: bytes
    size: int
    mode: int
    mtime: int
    format: str
    raw: bytes

    @property
    def data_size(self) -> int:
        """Bytes of data that follow the header in the stream."""
        return 0 if self.typeflag and self.typeflag[0] in HEADER_ONLY_TYPES else self.size


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\x00")
    return field if end < 0 else field[:end]


def _octal(field: bytes) -> int:
    text = field.strip(b" \x00").split(b"\x00", 1)[0]
    if not text:
        return 0
    try:
        return int(text, 8) if all(48 <= c <= 55 for c in text) else _bad(field)
    except ValueError:
        return _bad(field)


def _bad(field: bytes) -> int:
    raise TarHeaderError(f"invalid numeric field {field!r}")


def _numeric(field: bytes) -> int:
    if field and field[0] & 0x80:
        # base-256: two's complement big-endian, the marker bit cleared.
        value = int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        if field[0] & 0x40:
            value -= 1 << (8 * len(field) - 1)
        if not -(1 << 63) <= value < (1 << 63):
            raise TarHeaderError("base-256 number overflows int64")
        return value
    return _octal(field)


def checksums(block: bytes) -> tuple[int, int]:
    """Unsigned and signed sums with the checksum field counted as spaces."""
    body = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(body)
    signed = sum(b - 256 if b > 127 else b for b in body)
    return unsigned, signed


def parse_header(block: bytes) -> TarHeader:
    """Decode one non-zero 512-byte header block, or raise TarHeaderError."""
    fields = TarBlock.parse(block)
    try:
        declared = _octal(fields.chksum)
    except TarHeaderError:
        raise TarHeaderError("unreadable checksum field") from None
    if declared not in checksums(block):
        raise TarHeaderError("header checksum does not match")
    trailer_star = block[508:512] == b"tar\x00"
    if fields.magic == MAGIC_USTAR and trailer_star:
        fmt, prefix = "star", _cstring(block[345:476])
    elif fields.magic == MAGIC_USTAR:
        fmt, prefix = "ustar", _cstring(fields.prefix)
    elif fields.magic == MAGIC_GNU and fields.version == VERSION_GNU:
        fmt, prefix = "gnu", b""
    else:
        fmt, prefix = "v7", b""
    name = _cstring(fields.name)
    if prefix:
        name = prefix + b"/" + name
    typeflag = fields.typeflag
    if typeflag == b"S":
        # GNU sparse: Go rejects it outside the GNU format and reads a sparse
        # map inside it, which snaptool does not model (Nomad never writes one).
        raise TarHeaderError(
            "GNU sparse entry" + ("" if fmt == "gnu" else " outside the GNU format")
        )
    if typeflag == b"\x00":
        typeflag = b"5" if name.endswith(b"/") else b"0"
    size = _numeric(fields.size)
    header = TarHeader(
        name=name.decode("utf-8", "replace"),
        raw_name=name,
        typeflag=typeflag,
        size=size,
        mode=_numeric(fields.mode),
        mtime=_numeric(fields.mtime),
        format=fmt,
        raw=bytes(block),
    )
    if header.data_size < 0:
        raise TarHeaderError(f"negative size {size}")
    return header


def go_parse_int(text: bytes | str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 64)``: an optional sign, then ASCII
    digits only, in the int64 range; None where Go returns an error."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    digits = raw[1:] if raw[:1] in (b"+", b"-") else raw
    if not digits or any(not 0x30 <= c <= 0x39 for c in digits) or len(digits) > 19:
        return None
    value = int(digits) * (-1 if raw[:1] == b"-" else 1)
    return value if -(1 << 63) <= value < (1 << 63) else None


def parse_pax(data: bytes) -> dict[str, str]:
    """Parse PAX extended header records ``"%d %s=%s\\n"`` as Go does."""
    records: dict[str, str] = {}
    rest = data
    while rest:
        space = rest.find(b" ")
        length = go_parse_int(rest[:space]) if space >= 0 else None
        # Go: the length counts the whole record, so it is at least 5 ("5 a=\n")
        if length is None or length < 5 or length > len(rest):
            raise TarHeaderError("malformed PAX record length")
        if length <= space or rest[length - 1 : length] != b"\n":
            raise TarHeaderError("malformed PAX record")
        record = rest[space + 1 : length - 1]
        rest = rest[length:]
        key, eq, value = record.partition(b"=")
        if not eq or not key:
            raise TarHeaderError("malformed PAX record")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return records


def go_header(name: str, size: int, mtime: int) -> bytes:
    """The USTAR header Go's ``tar.Writer`` writes for Nomad's entries.

    Mode 0600, uid and gid 0, empty uname and gname, typeflag '0', as in
    ``helper/snapshot`` ``write()``.
    """
    raw_name = name.encode()
    if len(raw_name) > 100 or size >= 8**11 or not 0 <= mtime < 8**11:
        raise ValueError("entry does not fit a plain USTAR header")
    block = TarBlock.build(
        {
            "name": raw_name.ljust(100, b"\x00"),
            "mode": b"0000600\x00",
            "uid": b"0000000\x00",
            "gid": b"0000000\x00",
            "size": b"%011o\x00" % size,
            "mtime": b"%011o\x00" % mtime,
            "chksum": b" " * 8,
            "typeflag": b"0",
            "linkname": bytes(100),
            "magic": MAGIC_USTAR,
            "version": b"00",
            "uname": bytes(32),
            "gname": bytes(32),
            "devmajor": b"0000000\x00",
            "devminor": b"0000000\x00",
            "prefix": bytes(155),
            "pad": bytes(12),
        }
    )
    chksum = b"%06o\x00 " % checksums(block)[0]
    return block[:148] + chksum + block[156:]
