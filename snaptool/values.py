"""Decoded record values, and how they are shown.

Records are decoded with msgpack-python (``raw=False`` with
``surrogateescape``): every msgpack str becomes a Python ``str``, and bytes
that are not UTF-8 survive as lone surrogates, so ``s.encode("utf-8",
"surrogateescape")`` gives back the exact wire bytes. That matters because
Nomad writes ``[]byte`` fields and ``time.Time`` values (its 15-byte
``MarshalBinary`` form) as msgpack str too (FORMAT-NOTES 4).

For display, :func:`to_jsonable` turns values into what Nomad's own
``encoding/json`` output shows: times as RFC 3339, binary as base64.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

import msgpack

__all__ = [
    "decode",
    "go_time",
    "go_time_text",
    "is_binary",
    "raw_bytes",
    "to_jsonable",
    "value_digest",
]

_EPOCH_YEAR1 = datetime(1, 1, 1, tzinfo=timezone.utc)


def decode(raw: bytes) -> Any:
    """Decode one msgpack value as snaptool keeps it (see module notes)."""
    return msgpack.unpackb(raw, raw=False, unicode_errors="surrogateescape", strict_map_key=False)


def raw_bytes(s: str) -> bytes:
    """The exact bytes a decoded str came from."""
    return s.encode("utf-8", "surrogateescape")


def is_binary(s: str) -> bool:
    """True when the str held bytes that are not UTF-8 text."""
    if s.isascii():
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _time_parts(s: str) -> tuple[int, int, int, int] | None:
    """(seconds since year 1, nanoseconds, offset minutes, offset seconds) of
    Go's ``time.Time.MarshalBinary`` form (version 1 or 2), or None.

    Byte 0 is the version; then int64 seconds since year 1, int32
    nanoseconds, int16 zone offset in minutes (-1 for UTC); version 2 adds one
    byte of offset seconds. The str is measured in bytes: parts of a time
    can be valid UTF-8 and decode to fewer characters.
    """
    if not s or len(s) > 16 or s[0] not in "\x01\x02":
        return None
    try:
        data = raw_bytes(s)
    except UnicodeEncodeError:
        return None
    n = len(data)
    if n not in (15, 16) or (n == 16) != (data[0] == 2):
        return None
    secs, nanos, offset = struct.unpack(">qih", data[1:15])
    if not 0 <= nanos < 1_000_000_000 or not (offset == -1 or -1440 <= offset <= 1440):
        return None
    if not 0 <= secs < 315537897600:  # year 1 to year 9999
        return None
    return secs, nanos, offset, data[15] if n == 16 else 0


def go_time(s: str) -> datetime | None:
    """The moment a Go binary time holds (microsecond precision), or None."""
    parts = _time_parts(s)
    if parts is None:
        return None
    secs, nanos, offset, extra = parts
    moment = _EPOCH_YEAR1 + timedelta(seconds=secs, microseconds=nanos // 1000)
    if offset == -1:
        return moment
    return moment.astimezone(timezone(timedelta(minutes=offset, seconds=extra)))


def go_time_text(s: str) -> str | None:
    """RFC 3339 with Go's ``RFC3339Nano`` precision (trailing zeros cut), as
    ``encoding/json`` prints a ``time.Time``; None if not a Go binary time."""
    parts = _time_parts(s)
    if parts is None:
        return None
    secs, nanos, offset, extra = parts
    zone = timezone.utc if offset == -1 else timezone(timedelta(minutes=offset, seconds=extra))
    moment = (_EPOCH_YEAR1 + timedelta(seconds=secs)).astimezone(zone)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    utc_offset = moment.utcoffset() or timedelta(0)
    total = int(utc_offset.total_seconds())
    if total == 0:
        return text + "Z"
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{text}{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


def rfc3339(moment: datetime) -> str:
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if moment.utcoffset() == timedelta(0) else text


def to_jsonable(value: Any, *, mask: frozenset[str] = frozenset(), _key: str = "") -> Any:
    """Render a decoded value for JSON: times as RFC 3339, binary as base64,
    values of keys in ``mask`` replaced by a placeholder."""
    if _key and _key in mask and value not in (None, "", [], {}):
        return "<redacted sha256:%s>" % value_digest(value).removeprefix("sha256:")[:12]
    if isinstance(value, str):
        text = go_time_text(value)
        if text is not None:
            return text
        if is_binary(value):
            return base64.b64encode(raw_bytes(value)).decode()
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, mask=mask, _key=str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [to_jsonable(v, mask=mask) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def value_digest(value: Any) -> str:
    """A short stable digest of a decoded value (for secrets and bytes)."""
    packed = msgpack.packb(value, use_bin_type=False, unicode_errors="surrogateescape")
    return "sha256:" + hashlib.sha256(packed).hexdigest()
