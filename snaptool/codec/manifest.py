"""Manifest values: Go's formats for JSON or YAML record bodies, chosen from
the field names (:func:`typed`), and back to plain values (:func:`plain`).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

from .encoder import encode
from .wiretypes import (
    CodecError,
    Ext,
    Float32,
    GoTime,
    Int,
    Pairs,
    Uint,
    _parse_rfc3339,
    is_rfc3339,
)


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
