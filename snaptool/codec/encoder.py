"""Encoding values as Nomad's go-msgpack handle writes them (see "Encoding
Python values" in :mod:`snaptool.codec`).
"""

from __future__ import annotations

import struct
from typing import Any

from .decoder import MAX_DEPTH
from .wiretypes import CodecError, Ext, Float32, Pairs, Raw, Uint, _INT_FORMATS


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
