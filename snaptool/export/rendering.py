"""Record values as JSON: as stored (JSON lines) or as Go's ``encoding/json``
prints the Nomad struct (the document), with secrets masked.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgpack

from ..format.records import RecordType, by_number
from ..values import Ext, go_time_text


_YEAR1 = datetime(1, 1, 1)


# --------------------------------------------------------------------------
# values


def _bytes_of(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _is_utf8(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def b64(s: str | bytes) -> str:
    data = _bytes_of(s) if isinstance(s, str) else s
    return base64.b64encode(data).decode()


class Masked(str):
    """The placeholder of a masked secret (printed as is)."""


def _plain_fast(value: Any) -> Any:
    """:func:`plain` without ``byte_keys``: the per-record hot path of
    ``snaptool state``, so exact type tests and no path strings."""
    t = type(value)
    if t is str:
        if value and value[0] in "\x01\x02" and len(value) <= 16:
            text = go_time_text(value)
            if text is not None:
                return text
        if value.isascii() or _is_utf8(value):
            return value
        return b64(value)
    if t is dict:
        return {(k if type(k) is str and k.isascii() else _key(k)): _plain_fast(v) for k, v in value.items()}
    if t is list:
        return [_plain_fast(v) for v in value]
    if t is Masked:
        return str(value)
    if t is bytes:
        return b64(value)
    if isinstance(value, (str, dict, list, bytes)):  # subclasses: the general path
        return plain(value, byte_keys=frozenset({"\0"}))
    if t is msgpack.ExtType or t is msgpack.Timestamp or t is Ext:
        return _ext(value)
    if t is float and value - value != 0:  # NaN or an infinity: not JSON
        return _nonfinite(value)
    return value


def _nonfinite(value: float) -> str:
    """A float JSON cannot hold (Go's encoding/json refuses it): as text."""
    return "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")


def _ext(value: msgpack.ExtType | msgpack.Timestamp | Ext) -> dict[str, Any]:
    """A msgpack extension value (Nomad writes none): its type code and
    its bytes in base64 (a msgpack timestamp is extension -1)."""
    if isinstance(value, msgpack.Timestamp):
        return {"ExtType": -1, "Data": b64(value.to_bytes())}
    return {"ExtType": value.code, "Data": b64(value.data)}


def _key(k: Any) -> str:
    """A map key as JSON text: bytes that are not UTF-8 become U+FFFD, as
    Go's encoding/json writes them (a key cannot be base64 like a value)."""
    if type(k) is not str:
        return str(k)
    if k.isascii() or _is_utf8(k):
        return k
    return _bytes_of(k).decode("utf-8", "replace")


def plain(value: Any, *, byte_keys: frozenset[str] = frozenset(), _path: str = "") -> Any:
    """Times as RFC 3339, binary (non-UTF-8) strings as base64; values at
    the dotted paths in ``byte_keys`` (known ``[]byte`` fields, ``[]`` for a
    list item) always as base64."""
    if not byte_keys:
        return _plain_fast(value)
    if isinstance(value, Masked):
        return str(value)
    if isinstance(value, str):
        if _path and _path in byte_keys:
            return b64(value)
        t = go_time_text(value)
        if t is not None:
            return t
        return value if _is_utf8(value) else b64(value)
    if isinstance(value, dict):
        prefix = _path + "." if _path else ""
        on_path = _prefixes(byte_keys)
        out = {}
        for k, v in value.items():
            key = _key(k)
            path = prefix + key
            # only subtrees that lead to a byte_keys path need the paths
            out[key] = plain(v, byte_keys=byte_keys, _path=path) if path in on_path else _plain_fast(v)
        return out
    if isinstance(value, list):
        path = _path + "[]"
        if path not in _prefixes(byte_keys):
            return [_plain_fast(v) for v in value]
        return [plain(v, byte_keys=byte_keys, _path=path) for v in value]
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, (msgpack.ExtType, msgpack.Timestamp, Ext)):
        return _ext(value)
    if isinstance(value, float) and value - value != 0:
        return _nonfinite(value)
    return value


@lru_cache(maxsize=64)
def _prefixes(byte_keys: frozenset[str]) -> frozenset[str]:
    """Every path that is, or leads to, one of ``byte_keys``."""
    out: set[str] = set()
    for key in byte_keys:
        for i, ch in enumerate(key):
            if ch == "." or key.startswith("[]", i):
                out.add(key[:i])
        out.add(key)
    return frozenset(out)


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if u < size * 1000:
                whole, frac = divmod(u, size)
                text = str(whole)
                if frac:
                    digits = len(str(size)) - 1
                    text += "." + f"{frac:0{digits}d}".rstrip("0")
                return ("-" if neg else "") + text + unit
    secs, frac = divmod(u, 1_000_000_000)
    text = ""
    if frac:
        text = "." + f"{frac:09d}".rstrip("0")
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    out = f"{s}{text}s"
    if h or m:
        out = f"{m}m" + out
    if h:
        out = f"{h}h" + out
    return ("-" if neg else "") + out


# --------------------------------------------------------------------------
# per-type knowledge (Nomad v1.6.1 nomad/structs; later fields pass through)

#: ``[]byte`` fields that may happen to be valid UTF-8 (always base64).
_BYTE_KEYS: dict[int, frozenset[str]] = {
    1: frozenset({"Payload"}),
    4: frozenset({"Job.Payload"}),
    9: frozenset({"Payload"}),
    11: frozenset({"Hash"}),
    12: frozenset({"Hash"}),
    22: frozenset({"Data"}),
    25: frozenset({"Hash"}),
    26: frozenset({"Hash"}),
    27: frozenset({"Hash"}),
    28: frozenset({"Hash"}),
    30: frozenset({"WrappedKeys[].KeyEncryptionKey"}),
    64: frozenset({"Hash"}),
}

#: ``encoding/json`` of the zero ``structs.Allocation`` / ``Evaluation``
#: (v1.6.1): these structs are msgpack-``omitempty``, so zero fields are
#: absent from records but printed by Nomad's document.
_ZERO: dict[int, dict[str, Any]] = {
    4: json.loads(
        '{"ID":"","Namespace":"","EvalID":"","Name":"","NodeID":"","NodeName":"","JobID":"",'
        '"Job":null,"TaskGroup":"","Resources":null,"SharedResources":null,"TaskResources":null,'
        '"AllocatedResources":null,"Metrics":null,"DesiredStatus":"","DesiredDescription":"",'
        '"DesiredTransition":{"Migrate":null,"Reschedule":null,"ForceReschedule":null,'
        '"NoShutdownDelay":null},"ClientStatus":"","ClientDescription":"","TaskStates":null,'
        '"AllocStates":null,"PreviousAllocation":"","NextAllocation":"","DeploymentID":"",'
        '"DeploymentStatus":null,"RescheduleTracker":null,"NetworkStatus":null,'
        '"FollowupEvalID":"","PreemptedAllocations":null,"PreemptedByAllocation":"",'
        '"SigningKeyID":"","CreateIndex":0,"ModifyIndex":0,"AllocModifyIndex":0,'
        '"CreateTime":0,"ModifyTime":0}'
    ),
    3: json.loads(
        '{"ID":"","Namespace":"","Priority":0,"Type":"","TriggeredBy":"","JobID":"",'
        '"JobModifyIndex":0,"NodeID":"","NodeModifyIndex":0,"DeploymentID":"","Status":"",'
        '"StatusDescription":"","Wait":0,"WaitUntil":"0001-01-01T00:00:00Z","NextEval":"",'
        '"PreviousEval":"","BlockedEval":"","RelatedEvals":null,"FailedTGAllocs":null,'
        '"ClassEligibility":null,"QuotaLimitReached":"","EscapedComputedClass":false,'
        '"AnnotatePlan":false,"QueuedAllocations":null,"LeaderACL":"","SnapshotIndex":0,'
        '"CreateIndex":0,"ModifyIndex":0,"CreateTime":0,"ModifyTime":0}'
    ),
}

#: The fields of each zero value that hold a map or a list.
_ZERO_CONTAINERS = {t: tuple(k for k, v in z.items() if isinstance(v, (dict, list))) for t, z in _ZERO.items()}

#: Fields tagged ``json:"-"`` (never in Nomad's JSON).
_JSON_SKIP: dict[int, tuple[str, ...]] = {
    4: ("SignedIdentities",),
    18: ("ReadClaims", "WriteClaims", "PastClaims"),
}

#: Secret fields per type, beyond the registry's ``secrets``: (path, ...)
#: where a path is a dotted key path; ``[]`` walks a list, ``*`` a map.
_SECRETS: dict[int, tuple[str, ...]] = {
    0: ("SecretID",),  # a node's secret: lets its holder act as the node
    4: ("SignedIdentities.*",),  # workload identity JWTs
    12: ("SecretID",),
    22: ("Data",),
    26: ("Config.OIDCClientSecret",),
    30: (
        "WrappedKeys[].KeyEncryptionKey",
        "WrappedKeys[].WrappedDataEncryptionKey",
        "WrappedKeys[].WrappedRSAKey",
        "WrappedKeys[].EncryptedDataEncryptionKey",
        "WrappedKeys[].Key",
    ),
}


def secret_paths(rt: RecordType | None, type_number: int) -> tuple[str, ...]:
    paths = list(_SECRETS.get(type_number, ()))
    if rt is not None:
        for name in rt.secrets:
            if name == "WrappedKeys":
                continue  # masked field by field above
            if name not in paths:
                paths.append(name)
    return tuple(paths)


def mask_text(data: bytes) -> str:
    """The placeholder shown for a secret: equal secrets show equal text."""
    return Masked("<redacted sha256:%s>" % hashlib.sha256(data).hexdigest()[:12])


def _mask_value(v: Any) -> Any:
    if v is None or v == "" or v == [] or v == {}:
        return v
    if isinstance(v, str):
        return mask_text(_bytes_of(v))
    import msgpack

    return mask_text(msgpack.packb(v, use_bin_type=False, unicode_errors="surrogateescape"))


def _mask_path(obj: Any, parts: list[str]) -> None:
    if not parts or obj is None:
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(obj, dict):
            for k in list(obj):
                if rest:
                    _mask_path(obj[k], rest)
                else:
                    obj[k] = _mask_value(obj[k])
        return
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if not isinstance(obj, dict) or key not in obj:
        return
    if is_list:
        if isinstance(obj[key], list):
            for item in obj[key]:
                _mask_path(item, rest)
        return
    if rest:
        _mask_path(obj[key], rest)
    else:
        obj[key] = _mask_value(obj[key])


@lru_cache(maxsize=None)
def _secret_parts(type_number: int) -> tuple[list[str], ...]:
    """The secret paths of a type split into steps, once per type (masking
    runs for every record)."""
    out = []
    for path in secret_paths(by_number(type_number), type_number):
        parts = path.replace("[]", "[].").replace(".*", ".*.").split(".")
        out.append([p for p in parts if p])
    return tuple(out)


def mask_secrets(value: Any, type_number: int) -> Any:
    """Mask the secret fields of a decoded record in place (and return it)."""
    for parts in _secret_parts(type_number):
        _mask_path(value, parts)
    return value


def render_stored(type_number: int, value: Any, *, show_secrets: bool = False) -> Any:
    """A decoded record as JSON: exactly the stored fields, times RFC 3339,
    bytes base64, secrets masked unless ``show_secrets``."""
    if not show_secrets:
        value = mask_secrets(value, type_number)
    return plain(value, byte_keys=_BYTE_KEYS.get(type_number, frozenset()))


def _fix_network(obj: Any) -> None:
    """Walk a rendered value for Go JSON ``omitempty`` tags that live on
    nested structs: NetworkResource.Hostname, CSIInfo.ControllerInfo/NodeInfo.
    Only containers are visited (this walk runs over every document object)."""
    if isinstance(obj, dict):
        if "CIDR" in obj and "MBits" in obj and obj.get("Hostname", None) == "":
            del obj["Hostname"]
        if "RequiresControllerPlugin" in obj:
            for k in ("ControllerInfo", "NodeInfo"):
                if k in obj and obj[k] is None:
                    del obj[k]
        values: Iterable[Any] = obj.values()
    else:
        values = obj
    for v in values:
        if isinstance(v, (dict, list)):
            _fix_network(v)


def _with_zero(type_number: int, value: dict[str, Any]) -> dict[str, Any]:
    """The zero struct's fields in its order, the record's values where it
    has them, then the record's other fields. Built with dict copy and
    update (C), as it runs for every allocation and evaluation; maps and
    lists of the zero value are copied so records never share them."""
    zero = _ZERO[type_number]
    out = zero.copy()
    for k in _ZERO_CONTAINERS[type_number]:
        if k not in value:
            out[k] = json.loads(json.dumps(zero[k]))
    out.update(value)
    return out


def _duration_first(obj: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    head = {}
    for name in names:
        ns = obj.get(name)
        head[name] = "" if not ns else go_duration(int(ns))
    return {**head, **{k: v for k, v in obj.items() if k not in head}}


def render_document(type_number: int, value: Any, *, show_secrets: bool = False) -> Any:
    """A decoded record as ``nomad operator snapshot state`` prints it."""
    return document_shape(type_number, render_stored(type_number, value, show_secrets=show_secrets))


#: Keys the nested ``omitempty`` rules (:func:`_fix_network`) look for: a
#: record whose bytes hold none of them needs no walk for those rules.
NESTED_RULE_KEYS = (b"CIDR", b"RequiresControllerPlugin")


def document_shape(type_number: int, out: Any, *, nested_rules: bool = True) -> Any:
    """A record rendered as stored (:func:`render_stored`), reshaped as Go's
    ``encoding/json`` prints the Nomad struct; changes ``out`` in place.
    ``nested_rules=False`` skips the walk for the nested ``omitempty``
    rules (the caller knows no key of :data:`NESTED_RULE_KEYS` is there)."""
    if not isinstance(out, dict):
        return out
    for name in _JSON_SKIP.get(type_number, ()):
        out.pop(name, None)
    if type_number in _ZERO:
        out = _with_zero(type_number, out)
    if type_number == 0:
        # Node: Attributes, NodeResources, ReservedResources are json omitempty
        for k in ("Attributes", "NodeResources", "ReservedResources"):
            if k in out and not out[k]:
                del out[k]
    elif type_number == 12:
        out = _duration_first(out, ("ExpirationTTL",))
    elif type_number == 26:
        out = _duration_first(out, ("MaxTokenTTL",))
        if isinstance(out.get("Config"), dict):
            out["Config"] = _duration_first(
                out["Config"], ("ExpirationLeeway", "NotBeforeLeeway", "ClockSkewLeeway")
            )
    elif type_number == 30:
        out.pop("WrappedKeys", None)  # Nomad prints RootKey.Meta() only
    if nested_rules:
        _fix_network(out)
    return out
