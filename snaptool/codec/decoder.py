"""Decoding one msgpack value into the types of :mod:`snaptool.codec.wiretypes`,
keeping every format so that the value re-encodes to the same bytes.
"""

from __future__ import annotations

import struct
from typing import Any

from .wiretypes import (
    Array,
    CodecError,
    Ext,
    Float32,
    GoTime,
    Map,
    Pairs,
    Raw,
    _INT_FORMATS,
)


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
