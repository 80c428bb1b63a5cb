"""The Python types decoded values use to remember their wire format (see the
table in :mod:`snaptool.codec`), and :class:`CodecError`.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import SnaptoolError


class CodecError(SnaptoolError):
    """Bytes that are not one msgpack value, or a value msgpack cannot hold."""


# -- value classes ------------------------------------------------------------


class Uint(int):
    """A Go unsigned integer: written in the smallest unsigned format."""

    code: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class Int(int):
    """A Go signed integer (a plain ``int`` means the same)."""

    code: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class U8(Uint):
    code = 0xCC


class U16(Uint):
    code = 0xCD


class U32(Uint):
    code = 0xCE


class U64(Uint):
    code = 0xCF


class I8(Int):
    code = 0xD0


class I16(Int):
    code = 0xD1


class I32(Int):
    code = 0xD2


class I64(Int):
    code = 0xD3


_INT_FORMATS: dict[int, tuple[type[int], str, int, int]] = {
    0xCC: (U8, ">B", 0, 0xFF),
    0xCD: (U16, ">H", 0, 0xFFFF),
    0xCE: (U32, ">I", 0, 0xFFFFFFFF),
    0xCF: (U64, ">Q", 0, (1 << 64) - 1),
    0xD0: (I8, ">b", -(1 << 7), (1 << 7) - 1),
    0xD1: (I16, ">h", -(1 << 15), (1 << 15) - 1),
    0xD2: (I32, ">i", -(1 << 31), (1 << 31) - 1),
    0xD3: (I64, ">q", -(1 << 63), (1 << 63) - 1),
}


class Float32(float):
    """A Go float32 (``ca``)."""

    def __repr__(self) -> str:
        return f"Float32({float(self)!r})"


_EPOCH_YEAR1 = datetime(1, 1, 1, tzinfo=timezone.utc)
_UNIX_FROM_YEAR1 = 62135596800
_MAX_SECS = 315537897600  # 10000-01-01


class GoTime(bytes):
    """A ``time.Time`` as ``MarshalBinary`` writes it (kept as its bytes).

    Version 1: byte 1, int64 seconds since 0001-01-01 UTC, int32
    nanoseconds, int16 zone offset in minutes (-1 for UTC); version 2 adds a
    byte of offset seconds.
    """

    @staticmethod
    def check(data: bytes) -> bool:
        """True when ``data`` is a plausible MarshalBinary value."""
        n = len(data)
        if not ((n == 15 and data[0] == 1) or (n == 16 and data[0] == 2)):
            return False
        secs, nanos, offset = struct.unpack(">qih", data[1:15])
        if not 0 <= nanos < 1_000_000_000 or not (offset == -1 or -1440 <= offset <= 1440):
            return False
        if n == 16 and (offset == -1 or data[15] > 59):
            return False
        return 0 <= secs < _MAX_SECS

    @classmethod
    def from_parts(cls, secs: int, nanos: int = 0, offset_minutes: int = -1) -> GoTime:
        """From seconds since year 1, nanoseconds and offset (-1 = UTC)."""
        return cls(struct.pack(">Bqih", 1, secs, nanos, offset_minutes))

    @classmethod
    def from_unix_nanos(cls, ns: int) -> GoTime:
        secs, nanos = divmod(ns, 1_000_000_000)
        return cls.from_parts(secs + _UNIX_FROM_YEAR1, nanos)

    @classmethod
    def parse(cls, text: str) -> GoTime:
        """From RFC 3339 text; ``Z`` gives the UTC location (offset -1)."""
        secs, nanos, offset = _parse_rfc3339(text)
        return cls.from_parts(secs + _UNIX_FROM_YEAR1, nanos, -1 if offset is None else offset)

    @property
    def parts(self) -> tuple[int, int, int, int]:
        """(seconds since year 1, nanoseconds, offset minutes, offset seconds)."""
        secs, nanos, offset = struct.unpack(">qih", self[1:15])
        return secs, nanos, offset, (self[15] if len(self) == 16 else 0)

    @property
    def unix_nanos(self) -> int:
        secs, nanos, _, _ = self.parts
        return (secs - _UNIX_FROM_YEAR1) * 1_000_000_000 + nanos

    def rfc3339(self) -> str:
        """RFC 3339 with nanoseconds, as Go's ``time.RFC3339Nano`` prints it,
        except that a zone at +0 (not the UTC location) prints ``+00:00``
        where Go prints ``Z``, so that :func:`typed` gives back the same bytes
        (display code uses :func:`snaptool.values.go_time_bytes`)."""
        secs, nanos, offset, extra = self.parts
        zone_secs = 0 if offset == -1 else offset * 60 + (extra if offset >= 0 else -extra)
        moment = _EPOCH_YEAR1 + timedelta(seconds=secs + zone_secs)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if len(text) < 19:  # years below 1000 are not zero-padded by strftime
            text = f"{moment.year:04d}" + text[text.index("-"):]
        if nanos:
            text += "." + f"{nanos:09d}".rstrip("0")
        if offset == -1:
            return text + "Z"  # the UTC location; a zone at +0 prints +00:00
        sign = "+" if zone_secs >= 0 else "-"
        hh, mm = divmod(abs(zone_secs) // 60, 60)
        return text + f"{sign}{hh:02d}:{mm:02d}"

    def __repr__(self) -> str:
        return f"GoTime({self.rfc3339()!r})"


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def is_rfc3339(text: str) -> bool:
    return bool(_RFC3339.match(text))


def _parse_rfc3339(text: str) -> tuple[int, int, int | None]:
    """(unix seconds, nanoseconds, offset minutes or None for Z)."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    offset = None
    if not m.group(8):
        offset = int(m.group(10)) * 60 + int(m.group(11))
        if m.group(9) == "-":
            offset = -offset
    try:
        moment = datetime(year, month, day, hh, mi, ss, tzinfo=timezone.utc)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 time: {text!r} ({exc})") from None
    unix = int((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds())
    if offset:
        unix -= offset * 60
    return unix, nanos, offset


class Raw(bytes):
    """Raw bytes with the exact header byte they were read with (``d9``,
    ``c4``-``c6``, or a longer ``da``/``db`` than needed)."""

    code: int

    def __new__(cls, data: bytes, code: int) -> Raw:
        obj = super().__new__(cls, data)
        obj.code = code
        return obj

    def __repr__(self) -> str:
        return f"Raw({bytes(self)!r}, code=0x{self.code:02x})"


class Map(dict):
    """A map read with a longer header than needed (``code`` is de/df)."""

    code: int

    def __init__(self, items: Any = (), code: int = 0xDE) -> None:
        super().__init__(items)
        self.code = code


class Array(list):
    """An array read with a longer header than needed (``code`` is dc/dd)."""

    code: int

    def __init__(self, items: Any = (), code: int = 0xDC) -> None:
        super().__init__(items)
        self.code = code


class Pairs(list):
    """A map whose keys repeat or are not hashable: a list of (key, value).
    ``code`` is the header byte when it is not the minimal one."""

    code: int | None

    def __init__(self, items: Any = (), code: int | None = None) -> None:
        super().__init__(items)
        self.code = code


class Ext:
    """A msgpack ext value (Nomad never writes one), kept exactly."""

    __slots__ = ("code", "type", "data")

    def __init__(self, code: int, type_: int, data: bytes) -> None:
        self.code, self.type, self.data = code, type_, data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ext) and (self.code, self.type, self.data) == (other.code, other.type, other.data)

    def __hash__(self) -> int:
        return hash((self.code, self.type, self.data))

    def __repr__(self) -> str:
        return f"Ext(0x{self.code:02x}, {self.type}, {self.data!r})"
