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
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

import msgpack

__all__ = [
    "decode",
    "go_time",
    "go_time_bytes",
    "go_time_parts",
    "go_time_text",
    "rfc3339_nano",
    "is_binary",
    "raw_bytes",
    "to_jsonable",
    "value_digest",
]

_EPOCH_YEAR1 = datetime(1, 1, 1, tzinfo=timezone.utc)


#: The error handler :func:`decode` gives msgpack. CPython decodes with the
#: built-in ``surrogateescape`` in C, without calling a handler per bad
#: byte: 0.83 us against 2.99 us for a map of two 15-byte Go times with a
#: handler of snaptool's own that escaped the rest of the string in one call
#: (measured with timeit, CPython 3.11).
ESCAPE_ERRORS = "surrogateescape"


class Ext(NamedTuple):
    """A msgpack extension value with a negative type code other than -1
    (a timestamp), which msgpack's own ``ExtType`` refuses. Nomad writes no
    extension values; a damaged or foreign record may hold one, and it is
    shown like any other: its type code and its bytes."""

    code: int
    data: bytes


def ext_hook(code: int, data: bytes) -> Any:
    """msgpack's ``ext_hook``: every extension value decodes, whatever its
    type code (msgpack's default raises ValueError for -128 to -2)."""
    return msgpack.ExtType(code, data) if code >= 0 else Ext(code, data)


def decode(raw: bytes) -> Any:
    """Decode one msgpack value as snaptool keeps it (see module notes).

    A map key that is itself a map or an array (Nomad never writes one, and
    cannot restore it) becomes the compact JSON text of that key, so that the
    value can still be shown."""
    try:
        return msgpack.unpackb(
            raw, raw=False, unicode_errors=ESCAPE_ERRORS, strict_map_key=False, ext_hook=ext_hook
        )
    except TypeError:  # an unhashable map key
        return msgpack.unpackb(
            raw,
            raw=False,
            unicode_errors=ESCAPE_ERRORS,
            strict_map_key=False,
            object_pairs_hook=_pairs,
            ext_hook=ext_hook,
        )


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    return {(_key_text(k) if isinstance(k, (dict, list)) else k): v for k, v in pairs}


def _key_text(key: Any) -> str:
    import json

    try:
        return json.dumps(key, separators=(",", ":"), sort_keys=True, default=repr, ensure_ascii=False)
    except TypeError:  # keys of mixed types cannot be sorted: as written
        return json.dumps(key, separators=(",", ":"), default=repr, ensure_ascii=False)


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


def go_time_parts(data: bytes) -> tuple[int, int, int] | None:
    """(seconds since year 1, nanoseconds, zone offset in seconds or None for
    the UTC location) of Go's ``time.Time.MarshalBinary`` bytes, or None.

    Byte 0 is the version; then int64 seconds since year 1, int32
    nanoseconds, int16 zone offset in minutes (-1 for UTC); version 2 adds one
    byte that Go's ``UnmarshalBinary`` adds to the offset as seconds.
    """
    n = len(data)
    if n not in (15, 16) or data[0] not in (1, 2) or (n == 16) != (data[0] == 2):
        return None
    secs, nanos, offset = struct.unpack(">qih", data[1:15])
    if not 0 <= nanos < 1_000_000_000 or not (offset == -1 or -1440 <= offset <= 1440):
        return None
    if not 0 <= secs < 315537897600:  # year 1 to year 9999
        return None
    zone = offset * 60 + (data[15] if n == 16 else 0)
    if zone == -60:  # -1 minute is UTC, as Go's UnmarshalBinary checks it: seconds added first
        return secs, nanos, None
    return secs, nanos, zone


#: Days from year 1 to the end of year 9999 (``date.max.toordinal()``).
_LAST_DAY = date.max.toordinal() - 1


#: ``YYYY-MM-DDT`` of the days seen, by day number (a dict: looked up
#: inline by :func:`go_time_bytes`, cheaper than a cached function's call).
_DAY_TEXT: dict[int, str] = {}


def _day_text(days: int) -> str:
    """``YYYY-MM-DDT`` of a day counted from 0001-01-01 (kept: the times of
    one snapshot fall on few days, and this is the per-time hot spot of
    ``snaptool state``)."""
    text = _DAY_TEXT.get(days)
    if text is None:
        if len(_DAY_TEXT) >= 4096:
            _DAY_TEXT.clear()
        text = _DAY_TEXT[days] = date.fromordinal(days + 1).isoformat() + "T"
    return text


def rfc3339_nano(secs: int, nanos: int, zone_secs: int | None) -> str:
    """Go's ``time.RFC3339Nano`` text (``encoding/json``'s form of a time):
    trailing zeros of the fraction cut, ``Z`` for a zero offset."""
    zone = zone_secs or 0
    days, rest = divmod(secs + zone, 86400)
    hours, rest = divmod(rest, 3600)
    if 0 <= days <= _LAST_DAY:
        text = "%s%02d:%02d:%02d" % (_day_text(days), hours, rest // 60, rest % 60)
    else:
        # Year 0 or 10000 once the zone is applied, outside datetime's range:
        # 400 Gregorian years later (or earlier) the calendar is the same.
        # Go's encoding/json refuses year 10000 ("year outside of range
        # [0,9999]"); this is the text its Format(RFC3339Nano) writes.
        cycle = 146097 if days < 0 else -146097
        day = date.fromordinal(days + 1 + cycle)
        year = day.year - (400 if days < 0 else -400)
        text = "%04d-%02d-%02dT%02d:%02d:%02d" % (year, day.month, day.day, hours, rest // 60, rest % 60)
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    if zone == 0:
        return text + "Z"
    # Go's Format: whole minutes, truncated toward zero, signed by the
    # minutes (an offset of -30 seconds is "+00:00")
    minutes = abs(zone) // 60
    sign = "-" if zone < 0 and minutes else "+"
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def go_time_bytes(data: bytes) -> str | None:
    """Go binary time bytes as ``encoding/json`` prints the time, or None.

    The common case (UTC, version 1) is done inline: ``snaptool state``
    prints every time of a snapshot through here."""
    if len(data) == 15 and data[0] == 1:
        secs, nanos, offset = _TIME_FIELDS(data, 1)
        if offset == -1 and 0 <= nanos < 1_000_000_000 and 0 <= secs < 315537897600:
            days, rest = divmod(secs, 86400)
            day = _DAY_TEXT.get(days) or _day_text(days)
            if nanos:  # a digit of the fraction is not 0: rstrip stops there
                return f"{day}{_CLOCK_MINUTES[rest // 60]}{_TWO_DIGITS[rest % 60]}.{nanos:09d}".rstrip("0") + "Z"
            return f"{day}{_CLOCK_MINUTES[rest // 60]}{_TWO_DIGITS[rest % 60]}Z"
    parts = go_time_parts(data)
    return rfc3339_nano(*parts) if parts is not None else None


_TIME_FIELDS = struct.Struct(">qih").unpack_from
#: ``HH:MM:`` of each minute of a day.
_CLOCK_MINUTES = ["%02d:%02d:" % divmod(m, 60) for m in range(1440)]
_TWO_DIGITS = ["%02d" % n for n in range(60)]


def _time_bytes_of(s: str) -> bytes | None:
    # 15 or 16 bytes; runs that happen to be UTF-8 make the str shorter
    if not 0 < len(s) <= 16 or s[0] not in "\x01\x02":
        return None
    try:
        return raw_bytes(s)
    except UnicodeEncodeError:
        return None


def go_time(s: str) -> datetime | None:
    """The moment a decoded str holding a Go time means (to the microsecond)."""
    data = _time_bytes_of(s)
    parts = go_time_parts(data) if data is not None else None
    if parts is None:
        return None
    secs, nanos, zone = parts
    moment = _EPOCH_YEAR1 + timedelta(seconds=secs, microseconds=nanos // 1000)
    return moment if zone is None else moment.astimezone(timezone(timedelta(seconds=zone)))


def go_time_text(s: str) -> str | None:
    """A decoded str holding a Go time, as RFC 3339 with nanoseconds; None if
    it is not one."""
    # _time_bytes_of inline: every Go time of ``snaptool state`` comes here
    if not 0 < len(s) <= 16 or s[0] not in "\x01\x02":
        return None
    try:
        return go_time_bytes(s.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return None


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
