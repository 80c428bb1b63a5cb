"""A Go-faithful msgpack codec: decode a record, edit it, write Nomad's bytes.

Nomad encodes state.bin records with hashicorp/go-msgpack and its own handle
(FORMAT-NOTES 4). msgpack-python cannot write those bytes back: it writes
unsigned formats for Go's positive signed ints, never writes float32, and
uses str8/bin. This module decodes one value into Python objects that
remember everything the wire said, and encodes them back byte for byte.
Pure Python: it runs only on records being built or edited, never on a hot
read path.

Decoded values (:func:`decode`)
-------------------------------

======================  ==================================================
wire                    Python value
======================  ==================================================
nil ``c0``              ``None``
``c2``/``c3``           ``bool``
fixint (``00-7f``,      plain ``int`` (Go's encoder picks fixint for
``e0-ff``)              -32..127 whether the Go type is signed or not)
``cc cd ce cf``         :class:`U8` :class:`U16` :class:`U32` :class:`U64`
                        (subclasses of :class:`Uint`, so of ``int``)
``d0 d1 d2 d3``         :class:`I8` :class:`I16` :class:`I32` :class:`I64`
                        (subclasses of :class:`Int`, so of ``int``)
``ca`` / ``cb``         :class:`Float32` / ``float``
str family, canonical   :class:`GoTime` when it is a ``time.MarshalBinary``
header (fixstr, ``da``  value (15 bytes, version 1; 16 bytes, version 2,
for 32..65535, ``db``)  sane fields); else ``str`` when the bytes are UTF-8;
                        else ``bytes`` (Go ``[]byte`` such as hashes and
                        ciphertext)
any other raw header    :class:`Raw` (str8 ``d9``, a longer header than
(``d9``, ``c4-c6``,     needed, bin): bytes that remember their header byte
oversized ``da``/``db``)
map                     ``dict`` in wire order; :class:`Map` (a dict that
                        remembers a non-minimal header); :class:`Pairs` when
                        keys repeat or cannot be dict keys
array                   ``list``; :class:`Array` for a non-minimal header
ext (``c7-c9 d4-d8``)   :class:`Ext`
======================  ==================================================

Because every value keeps its format, ``encode(decode(b)) == b`` for every
msgpack value ``b`` (except float32 NaNs whose payload Python's float
conversion changes). Nomad never writes str8, bin, ext or non-minimal
headers; they are kept only so that foreign bytes survive an edit too.

Encoding Python values (:func:`encode`)
---------------------------------------

What Nomad's handle writes, chosen from the Python type:

* ``None`` -> ``c0``; ``bool`` -> ``c2``/``c3``;
* a plain ``int`` (or :class:`Int`) is a **Go signed int**: fixint for
  -32..127, positive values above 127 as ``d1``/``d2``/``d3`` (int16, 32,
  64), negative ones as the smallest of ``d0``-``d3``; values of 2**63 and
  more, which no signed Go type holds, as ``cf``;
* :class:`Uint` is a **Go unsigned int**: the smallest of fixint, ``cc``,
  ``cd``, ``ce``, ``cf``;
* the exact-format classes (:class:`U8` ... :class:`I64`) write their own
  format;
* ``float`` -> ``cb``; :class:`Float32` -> ``ca``;
* ``str`` (UTF-8, surrogate escapes allowed), ``bytes`` and :class:`GoTime`
  -> the old-spec str family only: fixstr, ``da``, ``db``; never ``d9``,
  never bin;
* ``dict`` -> map with keys in the dict's order; ``list``/``tuple`` -> array.

Manifest values (:func:`typed`)
-------------------------------

JSON or YAML values carry no Go types. :func:`typed` converts a record body
from a manifest into the values above, choosing Go's formats from the field
names (see :data:`UNSIGNED_FIELDS`, :data:`GO_TIME_FIELDS`,
:data:`NANOS_TIME_FIELDS`, :data:`BYTES_FIELDS`):

* an integer is unsigned (uint64 etc.) when its field name ends in
  ``Index`` or is in :data:`UNSIGNED_FIELDS` (``Version`` of jobs and job
  versions, ``JobVersion``, ``Restarts``, the ``Value`` of an ``Index``
  record, ...); every other integer is a Go signed int. Field names come
  from Nomad 1.6.1's ``nomad/structs`` (where a name is both, the common
  persisted use wins: ``TaskHandle.Version`` is an exception handled by
  path, ``DesiredUpdates.Canary`` is not persisted);
* a string in RFC 3339 form (``2024-05-01T12:00:00Z``, fractions up to
  nanoseconds, any offset) is converted in time fields: to the 15-byte
  ``time.Time`` binary in the fields of :data:`GO_TIME_FIELDS` (and
  ``CreateTime``/``ModifyTime`` of ACL tokens, auth methods and binding
  rules, ``Time`` of a TimeTable entry and of an allocation state), to int64
  Unix nanoseconds in :data:`NANOS_TIME_FIELDS` (``SubmitTime``,
  ``CreateTime``/``ModifyTime`` elsewhere, ``Time`` of task and scaling
  events, ...). An integer in a time.Time field is taken as Unix
  nanoseconds; ``null`` stays nil (a nil ``*time.Time``);
* a string in a ``[]byte`` field (:data:`BYTES_FIELDS`: ``Hash``,
  ``Payload``, ``Data`` of a variable, ...) is base64 (standard, padded);
  YAML ``!!binary`` values are bytes anywhere;
* explicit forms override the rules anywhere: ``{"$uint": n}``,
  ``{"$int": n}``, ``{"$float32": x}``, ``{"$float64": x}``,
  ``{"$bytes": "<base64>"}``, ``{"$time": "<RFC 3339>"}``,
  ``{"$str": "..."}`` (a string left alone);
* floats are float64; ``[]``, ``{}`` and ``null`` stay distinct.

:func:`plain` goes the other way for display and comparison: times as RFC
3339 (nanoseconds kept), binary as base64, numbers as Python numbers.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import SnaptoolError

__all__ = [
    "Array",
    "CodecError",
    "Ext",
    "Float32",
    "GoTime",
    "I8",
    "I16",
    "I32",
    "I64",
    "Int",
    "Map",
    "Pairs",
    "Raw",
    "U8",
    "U16",
    "U32",
    "U64",
    "Uint",
    "decode",
    "decode_prefix",
    "encode",
    "plain",
    "typed",
]


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


# -- decoding -----------------------------------------------------------------

MAX_DEPTH = 512


def decode(data: bytes) -> Any:
    """Decode exactly one msgpack value; trailing bytes are an error."""
    value, end = decode_prefix(data, 0)
    if end != len(data):
        raise CodecError(f"{len(data) - end} bytes after the value")
    return value


def decode_prefix(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Decode one value at ``pos``; return it and the offset after it."""
    view = memoryview(data)
    try:
        return _dec(view, pos, 0)
    except (IndexError, struct.error):
        raise CodecError(f"truncated msgpack value (started at offset {pos})") from None


def _need(view: memoryview, pos: int, n: int) -> None:
    if pos + n > len(view):
        raise CodecError(f"truncated msgpack value at offset {pos}")


def _raw(view: memoryview, pos: int, n: int, code: int, minimal: bool) -> tuple[Any, int]:
    _need(view, pos, n)
    data = bytes(view[pos : pos + n])
    end = pos + n
    if not minimal:
        return Raw(data, code), end
    if (n == 15 or n == 16) and GoTime.check(data):
        return GoTime(data), end
    try:
        return data.decode("utf-8"), end
    except UnicodeDecodeError:
        return data, end


def _dec(view: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise CodecError("msgpack nesting too deep")
    _need(view, pos, 1)
    b = view[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        return _raw(view, pos, b & 0x1F, b, True)
    if 0x90 <= b <= 0x9F:
        return _array(view, pos, b & 0x0F, None, depth)
    if 0x80 <= b <= 0x8F:
        return _map(view, pos, b & 0x0F, None, depth)
    if b == 0xC0:
        return None, pos
    if b == 0xC2:
        return False, pos
    if b == 0xC3:
        return True, pos
    if b in _INT_FORMATS:
        cls, fmt, _, _ = _INT_FORMATS[b]
        size = struct.calcsize(fmt)
        _need(view, pos, size)
        return cls(struct.unpack_from(fmt, view, pos)[0]), pos + size
    if b == 0xCA:
        _need(view, pos, 4)
        return Float32(struct.unpack_from(">f", view, pos)[0]), pos + 4
    if b == 0xCB:
        _need(view, pos, 8)
        return struct.unpack_from(">d", view, pos)[0], pos + 8
    if b in (0xD9, 0xC4):
        _need(view, pos, 1)
        return _raw(view, pos + 1, view[pos], b, False)
    if b in (0xDA, 0xC5):
        _need(view, pos, 2)
        n = struct.unpack_from(">H", view, pos)[0]
        return _raw(view, pos + 2, n, b, b == 0xDA and n >= 32)
    if b in (0xDB, 0xC6):
        _need(view, pos, 4)
        n = struct.unpack_from(">I", view, pos)[0]
        return _raw(view, pos + 4, n, b, b == 0xDB and n > 0xFFFF)
    if b == 0xDC:
        _need(view, pos, 2)
        n = struct.unpack_from(">H", view, pos)[0]
        return _array(view, pos + 2, n, None if n >= 16 else b, depth)
    if b == 0xDD:
        _need(view, pos, 4)
        n = struct.unpack_from(">I", view, pos)[0]
        return _array(view, pos + 4, n, None if n > 0xFFFF else b, depth)
    if b == 0xDE:
        _need(view, pos, 2)
        n = struct.unpack_from(">H", view, pos)[0]
        return _map(view, pos + 2, n, None if n >= 16 else b, depth)
    if b == 0xDF:
        _need(view, pos, 4)
        n = struct.unpack_from(">I", view, pos)[0]
        return _map(view, pos + 4, n, None if n > 0xFFFF else b, depth)
    if 0xD4 <= b <= 0xD8:
        n = 1 << (b - 0xD4)
        _need(view, pos, 1 + n)
        return Ext(b, struct.unpack_from(">b", view, pos)[0], bytes(view[pos + 1 : pos + 1 + n])), pos + 1 + n
    if 0xC7 <= b <= 0xC9:
        fmt = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[b]
        size = struct.calcsize(fmt)
        _need(view, pos, size + 1)
        n = struct.unpack_from(fmt, view, pos)[0]
        pos += size
        typ = struct.unpack_from(">b", view, pos)[0]
        _need(view, pos + 1, n)
        return Ext(b, typ, bytes(view[pos + 1 : pos + 1 + n])), pos + 1 + n
    raise CodecError(f"byte 0x{b:02x} at offset {pos - 1} starts no msgpack value")


def _array(view: memoryview, pos: int, n: int, code: int | None, depth: int) -> tuple[Any, int]:
    if n > len(view) - pos:
        raise CodecError(f"array of {n} items cannot fit in {len(view) - pos} bytes")
    items = []
    for _ in range(n):
        item, pos = _dec(view, pos, depth + 1)
        items.append(item)
    return (Array(items, code) if code is not None else items), pos


def _map(view: memoryview, pos: int, n: int, code: int | None, depth: int) -> tuple[Any, int]:
    if 2 * n > len(view) - pos:
        raise CodecError(f"map of {n} entries cannot fit in {len(view) - pos} bytes")
    pairs = []
    for _ in range(n):
        key, pos = _dec(view, pos, depth + 1)
        value, pos = _dec(view, pos, depth + 1)
        pairs.append((key, value))
    try:
        keys = {k for k, _ in pairs}
        unique = len(keys) == n
    except TypeError:
        unique = False
    if not unique:
        return Pairs(pairs, code), pos
    return (Map(pairs, code) if code is not None else dict(pairs)), pos


# -- encoding -----------------------------------------------------------------


def encode(value: Any) -> bytes:
    """Encode a value as Nomad's msgpack handle would (see module notes)."""
    out = bytearray()
    _enc(value, out, 0)
    return bytes(out)


def _int_exact(code: int, value: int, out: bytearray) -> None:
    _, fmt, lo, hi = _INT_FORMATS[code]
    if not lo <= value <= hi:
        raise CodecError(f"{value} does not fit msgpack format 0x{code:02x}")
    out.append(code)
    out += struct.pack(fmt, value)


def _uint(value: int, out: bytearray) -> None:
    if value < 0:
        raise CodecError(f"negative value {value} for an unsigned Go field")
    if value <= 0x7F:
        out.append(value)
    elif value <= 0xFF:
        out += b"\xcc" + struct.pack(">B", value)
    elif value <= 0xFFFF:
        out += b"\xcd" + struct.pack(">H", value)
    elif value <= 0xFFFFFFFF:
        out += b"\xce" + struct.pack(">I", value)
    elif value < 1 << 64:
        out += b"\xcf" + struct.pack(">Q", value)
    else:
        raise CodecError(f"{value} does not fit in 64 bits")


def _sint(value: int, out: bytearray) -> None:
    # go-msgpack EncodeInt: i > MaxInt8 -> int16/32/64; i >= -32 -> fixint;
    # else the smallest of int8/16/32/64.
    if value > 0x7F:
        if value <= 0x7FFF:
            out += b"\xd1" + struct.pack(">h", value)
        elif value <= 0x7FFFFFFF:
            out += b"\xd2" + struct.pack(">i", value)
        elif value <= 0x7FFFFFFFFFFFFFFF:
            out += b"\xd3" + struct.pack(">q", value)
        else:
            _uint(value, out)  # only a uint64 holds it
    elif value >= -32:
        out.append(value & 0xFF)
    elif value >= -(1 << 7):
        out += b"\xd0" + struct.pack(">b", value)
    elif value >= -(1 << 15):
        out += b"\xd1" + struct.pack(">h", value)
    elif value >= -(1 << 31):
        out += b"\xd2" + struct.pack(">i", value)
    elif value >= -(1 << 63):
        out += b"\xd3" + struct.pack(">q", value)
    else:
        raise CodecError(f"{value} does not fit in 64 bits")


def _raw_header(n: int, out: bytearray) -> None:
    if n < 32:
        out.append(0xA0 | n)
    elif n <= 0xFFFF:
        out += b"\xda" + struct.pack(">H", n)
    elif n <= 0xFFFFFFFF:
        out += b"\xdb" + struct.pack(">I", n)
    else:
        raise CodecError("string longer than 4 GiB")


def _len_header(n: int, fix: int, c16: int, c32: int, code: int | None, out: bytearray) -> None:
    if code == c16 or (code is None and 16 <= n <= 0xFFFF):
        if n > 0xFFFF:
            raise CodecError(f"{n} items do not fit header 0x{c16:02x}")
        out.append(c16)
        out += struct.pack(">H", n)
    elif code == c32 or (code is None and n > 0xFFFF):
        if n > 0xFFFFFFFF:
            raise CodecError("more than 2**32 items")
        out.append(c32)
        out += struct.pack(">I", n)
    else:
        out.append(fix | n)


def _enc(value: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deep")
    if value is None:
        out.append(0xC0)
    elif value is True:
        out.append(0xC3)
    elif value is False:
        out.append(0xC2)
    elif isinstance(value, int):
        code = getattr(value, "code", None)
        if code is not None:
            _int_exact(code, int(value), out)
        elif isinstance(value, Uint):
            _uint(int(value), out)
        else:
            _sint(int(value), out)
    elif isinstance(value, float):
        if isinstance(value, Float32):
            out.append(0xCA)
            out += struct.pack(">f", value)
        else:
            out.append(0xCB)
            out += struct.pack(">d", value)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogateescape")
        _raw_header(len(data), out)
        out += data
    elif isinstance(value, Raw):
        n = len(value)
        code = value.code
        if code in (0xD9, 0xC4):
            if n > 0xFF:
                raise CodecError("raw too long for its 8-bit header")
            out += bytes((code, n))
        elif code in (0xDA, 0xC5):
            if n > 0xFFFF:
                raise CodecError("raw too long for its 16-bit header")
            out.append(code)
            out += struct.pack(">H", n)
        elif code in (0xDB, 0xC6):
            out.append(code)
            out += struct.pack(">I", n)
        else:
            _raw_header(n, out)
        out += value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _raw_header(len(data), out)
        out += data
    elif isinstance(value, Pairs):
        _len_header(len(value), 0x80, 0xDE, 0xDF, value.code, out)
        for k, v in value:
            _enc(k, out, depth + 1)
            _enc(v, out, depth + 1)
    elif isinstance(value, dict):
        _len_header(len(value), 0x80, 0xDE, 0xDF, getattr(value, "code", None), out)
        for k, v in value.items():
            _enc(k, out, depth + 1)
            _enc(v, out, depth + 1)
    elif isinstance(value, (list, tuple)):
        _len_header(len(value), 0x90, 0xDC, 0xDD, getattr(value, "code", None), out)
        for v in value:
            _enc(v, out, depth + 1)
    elif isinstance(value, Ext):
        n = len(value.data)
        if 0xD4 <= value.code <= 0xD8:
            if n != 1 << (value.code - 0xD4):
                raise CodecError("fixext length mismatch")
            out.append(value.code)
        else:
            fmt = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[value.code]
            out.append(value.code)
            out += struct.pack(fmt, n)
        out += struct.pack(">b", value.type)
        out += value.data
    else:
        raise CodecError(f"cannot encode a {type(value).__name__} as msgpack")


# -- manifest values ------------------------------------------------------------

#: Integer fields that are Go unsigned types (besides every name ending in
#: ``Index``), from Nomad 1.6.1 ``nomad/structs``.
UNSIGNED_FIELDS = frozenset(
    {
        "Version",  # Job, JobSubmission, ... (TaskHandle.Version is int: see _SIGNED_PATHS)
        "JobVersion",
        "Restarts",
        "LastTerm",
        "Features",
        "Percent",
        "SchedulerVersion",
        "TotalCpuCores",
        "ReservedCores",
        "ReservedCpuCores",
        "ReservableCpuCores",
        "EnforcePriorVersion",
        "RevertedJobVersion",
        "MaxTrailingLogs",
        "MinQuorum",
        "Value",  # the Index record's IndexEntry.Value (top level only: see _unsigned)
    }
)

#: (parent field, field) pairs that are signed although the name is listed above.
_SIGNED_PATHS = frozenset({("TaskHandle", "Version")})

#: Fields of type ``time.Time`` (RFC 3339 text becomes the 15-byte binary).
GO_TIME_FIELDS = frozenset(
    {
        "StartedAt",
        "FinishedAt",
        "LastRestart",
        "Timestamp",
        "ForceDeadline",
        "RequireProgressBy",
        "WaitUntil",
        "Launch",
        "ExpirationTime",
        "ExpiresAt",
        "ResourceExhausted",
        "StableSince",
        "Established",
        "UpdateTime",
    }
)

#: Time fields that are int64 Unix nanoseconds (RFC 3339 text is converted).
NANOS_TIME_FIELDS = frozenset({"SubmitTime", "CreateTime", "ModifyTime", "Time", "RescheduleTime"})

#: Record types whose top-level ``CreateTime``/``ModifyTime`` are time.Time.
_GO_TIME_RECORDS = frozenset({"ACLToken", "ACLAuthMethod", "ACLBindingRule"})

#: ``[]byte`` fields: a string there is base64.
BYTES_FIELDS = frozenset(
    {"Hash", "Payload", "DriverState", "KeyEncryptionKey", "EncryptedDataEncryptionKey"}
)
#: ``[]byte`` fields only in some record types: (record type, field).
_BYTES_IN = frozenset({("Variables", "Data"), ("WrappedRootKeys", "Data")})

_TAGS = ("$uint", "$int", "$float32", "$float64", "$bytes", "$time", "$str")


class ManifestValueError(ValueError):
    """A manifest value that cannot become a Go value; ``path`` names it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.detail = message


def typed(value: Any, record_type: str = "", _path: tuple[str, ...] = ()) -> Any:
    """Turn a JSON/YAML-like record body into codec values (module notes)."""
    name = _path[-1] if _path else ""
    where = ".".join(_path)
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if isinstance(tag, str) and tag in _TAGS:
                return _tagged(tag, inner, where)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ManifestValueError(where, f"map key {k!r} is not a string")
            out[k] = typed(v, record_type, _path + (k,))
        return out
    if isinstance(value, (list, tuple)):
        # list items keep the list's field name as their context
        return [typed(v, record_type, _path) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if _is_go_time(record_type, _path):
            return GoTime.from_unix_nanos(value)
        if _unsigned(record_type, _path):
            if value < 0:
                raise ManifestValueError(where, f"{value} is negative but {name} is unsigned")
            return Uint(value)
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, datetime):  # YAML timestamps
        return _from_datetime(value, record_type, _path, where)
    if isinstance(value, str):
        if is_rfc3339(value):
            if _is_go_time(record_type, _path):
                return GoTime.parse(value)
            if name in NANOS_TIME_FIELDS:
                secs, nanos, _ = _parse_rfc3339(value)
                return secs * 1_000_000_000 + nanos
        if name in BYTES_FIELDS or (record_type, name) in _BYTES_IN and len(_path) == 1:
            try:
                return base64.b64decode(value.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise ManifestValueError(where, f"{name} is []byte: give base64 text or {{$bytes: ...}}") from None
        return value
    raise ManifestValueError(where, f"cannot use a {type(value).__name__} value")


def _from_datetime(value: datetime, record_type: str, path: tuple[str, ...], where: str) -> Any:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.isoformat().replace("+00:00", "Z")
    return typed(text, record_type, path)


def _is_go_time(record_type: str, path: tuple[str, ...]) -> bool:
    if not path:
        return False
    name = path[-1]
    if name in GO_TIME_FIELDS:
        return True
    if name in ("CreateTime", "ModifyTime") and len(path) == 1 and record_type in _GO_TIME_RECORDS:
        return True
    if name == "Time" and (record_type == "TimeTable" or (len(path) >= 2 and path[-2] == "AllocStates")):
        return True
    return False


def _unsigned(record_type: str, path: tuple[str, ...]) -> bool:
    if not path:
        return False
    name = path[-1]
    parent = path[-2] if len(path) >= 2 else ""
    if (parent, name) in _SIGNED_PATHS:
        return False
    if name == "Value":
        return record_type == "Index" and len(path) == 1
    if name == "Count":
        return parent == "Devices"  # RequestedDevice.Count uint64
    return name.endswith("Index") or name in UNSIGNED_FIELDS


def _tagged(tag: str, inner: Any, where: str) -> Any:
    try:
        if tag == "$uint":
            if isinstance(inner, bool) or not isinstance(inner, int) or inner < 0:
                raise ValueError("$uint needs a non-negative integer")
            return Uint(inner)
        if tag == "$int":
            if isinstance(inner, bool) or not isinstance(inner, int):
                raise ValueError("$int needs an integer")
            return Int(inner)
        if tag in ("$float32", "$float64"):
            if isinstance(inner, bool) or not isinstance(inner, (int, float)):
                raise ValueError(f"{tag} needs a number")
            return Float32(inner) if tag == "$float32" else float(inner)
        if tag == "$bytes":
            if isinstance(inner, (bytes, bytearray)):
                return bytes(inner)
            return base64.b64decode(str(inner).encode("ascii"), validate=True)
        if tag == "$time":
            if isinstance(inner, datetime):
                inner = (inner if inner.tzinfo else inner.replace(tzinfo=timezone.utc)).isoformat().replace("+00:00", "Z")
            if isinstance(inner, int) and not isinstance(inner, bool):
                return GoTime.from_unix_nanos(inner)
            return GoTime.parse(str(inner))
        if tag == "$str":
            if not isinstance(inner, str):
                raise ValueError("$str needs a string")
            return inner
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise ManifestValueError(where, str(exc)) from None
    raise AssertionError(tag)


def plain(value: Any, record_type: str = "", _path: tuple[str, ...] = ()) -> Any:
    """A decoded value as JSON-able manifest data, the inverse of :func:`typed`.

    Times are RFC 3339 (nanoseconds kept), ``[]byte`` base64, numbers plain
    numbers. Where the field-name rules of :func:`typed` would not give the
    same bytes back (an unsigned int in a field the rules call signed, a
    float32, a time or binary value in a field they do not know), the value
    is written in its explicit form (``{"$uint": n}``, ``{"$float32": x}``,
    ``{"$time": ...}``, ``{"$bytes": ...}``, ``{"$str": ...}``), so that
    ``encode(typed(plain(v, t), t)) == encode(v)`` for everything Nomad
    writes. Only non-minimal headers (:class:`Raw`, :class:`Map`,
    :class:`Array`, an int in a wider format than needed) and ext values
    are not expressible; they come out in their nearest plain form.
    :class:`Pairs` (repeated map keys) come out as a list of [key, value].
    """
    if isinstance(value, Pairs):
        return [[plain(k, record_type, _path), plain(v, record_type, _path)] for k, v in value]
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else str(plain(k))): plain(v, record_type, _path + (str(k),))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [plain(v, record_type, _path) for v in value]
    if isinstance(value, Ext):
        return {"$ext": value.type, "data": base64.b64encode(value.data).decode()}
    natural, explicit = _plain_leaf(value, _path)
    try:
        same = encode(typed(natural, record_type, _path)) == encode(value)
    except (ManifestValueError, CodecError):
        same = False
    return natural if same else explicit


def _plain_leaf(value: Any, path: tuple[str, ...]) -> tuple[Any, Any]:
    name = path[-1] if path else ""
    if value is None or isinstance(value, bool):
        return value, value
    if isinstance(value, GoTime):
        text = value.rfc3339()
        return text, {"$time": text}
    if isinstance(value, int):
        n = int(value)
        return n, {"$uint": n} if isinstance(value, Uint) or n >= 1 << 63 else {"$int": n}
    if isinstance(value, float):
        f = float(value)
        return f, {"$float32": f} if isinstance(value, Float32) else {"$float64": f}
    if isinstance(value, str):
        if name in BYTES_FIELDS or name == "Data":
            b64 = base64.b64encode(value.encode("utf-8", "surrogateescape")).decode()
            return b64, {"$str": value}
        return value, {"$str": value}
    if isinstance(value, (bytes, bytearray)):
        b64 = base64.b64encode(bytes(value)).decode()
        return b64, {"$bytes": b64}
    return value, value
