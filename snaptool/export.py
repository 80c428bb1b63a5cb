"""Records as JSON: ``snaptool state``.

Two shapes:

* **JSON lines** (:func:`export_lines`): one object per record, streamed in
  archive order, ``{"Index", "Type", "TypeNumber", "Offset", "Size",
  "Value"}``. ``Value`` is the record *as stored*: every field present in the
  msgpack map and nothing else (fields Nomad's encoder omitted stay absent),
  with times as RFC 3339 (nanoseconds, as Go prints them), ``[]byte`` as
  base64, secrets masked. Records of a type no Nomad uses also carry
  ``"Raw"``: the msgpack value's bytes in base64.
* **one document** (:func:`export_document`): the object ``nomad operator
  snapshot state`` prints (``helper/raftutil.StateAsMap`` plus
  ``SnapshotMeta``): tables ``ACLPolicies``, ``ACLTokens``, ``Allocs``,
  ``CSIPlugins``, ``CSIVolumes``, ``Deployments``, ``Evals``, ``Indexes``,
  ``JobSummaries``, ``JobVersions``, ``Jobs``, ``Nodes``,
  ``PeriodicLaunches``, ``SITokenAccessors``, ``ScalingEvents``,
  ``ScalingPolicies``, ``VaultAccessors`` (Nomad 1.6.1's set, always present)
  and ``RootKeys`` (metadata only, as Nomad 1.9+ prints it), each object
  shaped as Go's ``encoding/json`` prints the Nomad struct (zero values of
  fields msgpack omitted filled in, ``json:"-"`` fields dropped, custom
  ``MarshalJSON`` durations as strings). Tables Nomad does not print
  (Namespaces, NodePools, Variables, ...) follow under their own names unless
  ``nomad_tables`` is set; records of unknown types go to ``Unknown`` as
  ``{TypeNumber, Offset, Size, Raw}``.

Memory stays bounded: lines are written as records arrive; the document is
spooled per table to temporary files, then assembled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from .errors import UsageError
from .format.records import REGISTRY, RecordType, by_number, record_name
from .stream.reader import ArchiveScan, scan
from .stream.statewalk import RecordEvent
from .values import decode, go_time_text

__all__ = [
    "DOCUMENT_TABLES",
    "EXTRA_TABLES",
    "NOMAD_TABLES",
    "RecordFilter",
    "Rendered",
    "export_document",
    "export_lines",
    "go_duration",
    "go_time_text",
    "iter_records",
    "mask_text",
    "parse_types",
    "render_document",
    "render_stored",
]

_YEAR1 = datetime(1, 1, 1)

# --------------------------------------------------------------------------
# tables


#: ``nomad operator snapshot state`` (v1.6.1 ``StateAsMap``): table -> type.
NOMAD_TABLES: dict[str, int | None] = {
    "ACLPolicies": 11,
    "ACLTokens": 12,
    "Allocs": 4,
    "CSIPlugins": 17,
    "CSIVolumes": 18,
    "Deployments": 10,
    "Evals": 3,
    "Indexes": 2,
    "JobSummaries": 7,
    "JobVersions": 9,
    "Jobs": 1,
    "Nodes": 0,
    "PeriodicLaunches": 6,
    "SITokenAccessors": 15,
    "ScalingEvents": 19,
    "ScalingPolicies": 16,
    "VaultAccessors": 8,
}

#: Nomad 1.9+ adds ``RootKeys`` (key metadata only); snaptool also puts
#: 1.4-1.8 RootKeyMeta records there.
ROOT_KEYS_TABLE = "RootKeys"

#: Tables Nomad's document does not have (snaptool additions).
EXTRA_TABLES: dict[str, int] = {
    "TimeTable": 5,
    "SchedulerConfig": 13,
    "ClusterMetadata": 14,
    "EventSinks": 20,
    "ServiceRegistrations": 21,
    "Variables": 22,
    "VariablesQuotas": 23,
    "ACLRoles": 25,
    "ACLAuthMethods": 26,
    "ACLBindingRules": 27,
    "NodePools": 28,
    "JobSubmissions": 29,
    "HostVolumes": 31,
    "Namespaces": 64,
    "SentinelPolicies": 65,
    "QuotaSpecs": 66,
    "QuotaUsages": 67,
    "License": 68,
    "TmpLicenseMeta": 69,
    "Recommendations": 70,
}

_TABLE_OF: dict[int, str] = {t: name for name, t in NOMAD_TABLES.items() if t is not None}
_TABLE_OF.update({t: name for name, t in EXTRA_TABLES.items()})
_TABLE_OF[24] = ROOT_KEYS_TABLE
_TABLE_OF[30] = ROOT_KEYS_TABLE

#: Every table name the document can hold, for the docs and tests.
DOCUMENT_TABLES = sorted(set(_TABLE_OF.values()) | {"SnapshotMeta", "Unknown"})


def table_of(type_number: int) -> str:
    return _TABLE_OF.get(type_number, "Unknown")


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


def plain(value: Any, *, byte_keys: frozenset[str] = frozenset(), _path: str = "") -> Any:
    """Times as RFC 3339, binary (non-UTF-8) strings as base64; values at
    the dotted paths in ``byte_keys`` (known ``[]byte`` fields, ``[]`` for a
    list item) always as base64."""
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
        return {
            (k if isinstance(k, str) else str(k)): plain(v, byte_keys=byte_keys, _path=f"{prefix}{k}")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [plain(v, byte_keys=byte_keys, _path=_path + "[]") for v in value]
    if isinstance(value, bytes):
        return b64(value)
    return value


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


def mask_secrets(value: Any, type_number: int) -> Any:
    """Mask the secret fields of a decoded record in place (and return it)."""
    for path in secret_paths(by_number(type_number), type_number):
        parts = path.replace("[]", "[].").replace(".*", ".*.").split(".")
        _mask_path(value, [p for p in parts if p])
    return value


def render_stored(type_number: int, value: Any, *, show_secrets: bool = False) -> Any:
    """A decoded record as JSON: exactly the stored fields, times RFC 3339,
    bytes base64, secrets masked unless ``show_secrets``."""
    if not show_secrets:
        value = mask_secrets(value, type_number)
    return plain(value, byte_keys=_BYTE_KEYS.get(type_number, frozenset()))


def _fix_network(obj: Any) -> None:
    """Walk a rendered value for Go JSON ``omitempty`` tags that live on
    nested structs: NetworkResource.Hostname, CSIInfo.ControllerInfo/NodeInfo."""
    if isinstance(obj, dict):
        if "CIDR" in obj and "MBits" in obj and obj.get("Hostname", None) == "":
            del obj["Hostname"]
        if "RequiresControllerPlugin" in obj:
            for k in ("ControllerInfo", "NodeInfo"):
                if k in obj and obj[k] is None:
                    del obj[k]
        for v in obj.values():
            _fix_network(v)
    elif isinstance(obj, list):
        for v in obj:
            _fix_network(v)


def _with_zero(zero: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    out = {k: value.get(k, json.loads(json.dumps(v))) for k, v in zero.items()}
    for k, v in value.items():
        if k not in out:
            out[k] = v
    return out


def _duration_first(obj: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    head = {}
    for name in names:
        ns = obj.get(name)
        head[name] = "" if not ns else go_duration(int(ns))
    return {**head, **{k: v for k, v in obj.items() if k not in head}}


def render_document(type_number: int, value: Any, *, show_secrets: bool = False) -> Any:
    """A decoded record as ``nomad operator snapshot state`` prints it."""
    out = render_stored(type_number, value, show_secrets=show_secrets)
    if not isinstance(out, dict):
        return out
    for name in _JSON_SKIP.get(type_number, ()):
        out.pop(name, None)
    zero = _ZERO.get(type_number)
    if zero is not None:
        out = _with_zero(zero, out)
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
    _fix_network(out)
    return out


# --------------------------------------------------------------------------
# selecting records


def parse_types(specs: Iterable[str]) -> set[int]:
    """``--type`` values: names (any case, also table names) or numbers."""
    by_name = {rt.name.lower(): rt.number for rt in REGISTRY}
    by_name.update({t.lower(): n for n, t in _TABLE_OF.items() if t not in ("RootKeys",)})
    wanted: set[int] = set()
    for spec in specs:
        for part in spec.split(","):
            text = part.strip()
            if not text:
                continue
            if text.isdigit():
                number = int(text)
                if not 0 <= number <= 255:
                    raise UsageError(f"type number out of range: {text}")
                wanted.add(number)
            elif text.lower() in by_name:
                wanted.add(by_name[text.lower()])
            elif text.lower() == "rootkeys":
                wanted.update({24, 30})
            elif text.lower().startswith("unknown(") and text.endswith(")") and text[8:-1].isdigit():
                wanted.add(int(text[8:-1]))
            else:
                raise UsageError(f"unknown record type {text!r} (a name like Job or a number)")
    return wanted


def id_field(type_number: int) -> str | None:
    """The field ``--id``/``--prefix`` match: the natural key without its
    namespace and version (Job: ID, Variables: Path, ACLToken: AccessorID)."""
    rt = by_number(type_number)
    if rt is None:
        return "ID"
    for name in rt.key:
        if name not in ("Namespace", "Version"):
            return name
    return None


def namespace_of(type_number: int, value: Any) -> str | None:
    """The namespace a record belongs to, or None for cluster-wide records."""
    if not isinstance(value, dict):
        return None
    if type_number == 64:
        name = value.get("Name")
        return name if isinstance(name, str) else None
    ns = value.get("Namespace")
    if isinstance(ns, str):
        return ns or "default"
    return None


@dataclass
class RecordFilter:
    """Which records to show: every given condition must hold."""

    types: set[int] = field(default_factory=set)
    namespace: str | None = None
    ids: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    where: str | None = None
    _compiled: Any = None

    def __post_init__(self) -> None:
        if self.where:
            import jmespath
            from jmespath.exceptions import JMESPathError

            try:
                self._compiled = jmespath.compile(self.where)
            except JMESPathError as exc:
                raise UsageError(f"--where: not a JMESPath expression: {exc}") from None

    @property
    def needs_value(self) -> bool:
        return bool(self.namespace is not None or self.ids or self.prefixes or self.where)

    def type_ok(self, type_number: int) -> bool:
        return not self.types or type_number in self.types

    def value_ok(self, type_number: int, value: Any) -> bool:
        if self.namespace is not None and namespace_of(type_number, value) != self.namespace:
            return False
        if self.ids or self.prefixes:
            name = id_field(type_number)
            got = value.get(name) if name and isinstance(value, dict) else None
            if not isinstance(got, str):
                return False
            if self.ids and got not in self.ids:
                return False
            if self.prefixes and not any(got.startswith(p) for p in self.prefixes):
                return False
        return True

    def where_ok(self, rendered: Any) -> bool:
        if self._compiled is None:
            return True
        from jmespath.exceptions import JMESPathError

        try:
            return _truthy(self._compiled.search(rendered))
        except JMESPathError:
            return False


def _truthy(result: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false."""
    if isinstance(result, bool):
        return result
    return result is not None and result != "" and result != [] and result != {}


# --------------------------------------------------------------------------
# walking


class _Abort(BaseException):
    """Carries an error out of a record callback through the reader (which
    turns ordinary exceptions raised while walking into findings)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


def guarded(callback: Callable[[RecordEvent], None]) -> Callable[[RecordEvent], None]:
    """Wrap a record callback so its errors stop the scan and reach the
    caller of :func:`run_scan` unchanged."""

    def inner(ev: RecordEvent) -> None:
        try:
            callback(ev)
        except Exception as exc:  # noqa: BLE001 - re-raised by run_scan
            raise _Abort(exc) from exc

    return inner


def run_scan(
    path: str | os.PathLike[str],
    callback: Callable[[RecordEvent], None],
    *,
    record_types: Iterable[int] | None = None,
    plain_tar: bool = False,
) -> ArchiveScan:
    """``scan`` with raw record bytes, errors from ``callback`` propagated."""
    kwargs: dict[str, Any] = {}
    if record_types:
        kwargs["record_types"] = frozenset(record_types)
    try:
        return scan(path, on_record=guarded(callback), keep_raw=True, plain_tar=plain_tar, **kwargs)
    except _Abort as stop:
        raise stop.exc from None


@dataclass
class Rendered:
    event: RecordEvent
    name: str
    value: Any  # decoded (masked unless show_secrets)
    json_value: Any  # rendered for output


Renderer = Callable[[int, Any], Any]


def iter_records(
    path: str | os.PathLike[str],
    emit: Callable[[Rendered], None],
    *,
    flt: RecordFilter = RecordFilter(),
    document: bool = False,
    show_secrets: bool = False,
    plain_tar: bool = False,
) -> ArchiveScan:
    """Scan an archive, calling ``emit`` for every record the filter keeps."""

    def on_record(ev: RecordEvent) -> None:
        if not flt.type_ok(ev.type):
            return
        assert ev.raw is not None
        value = decode(ev.raw)
        if flt.needs_value and not flt.value_ok(ev.type, value):
            return
        known = by_number(ev.type) is not None
        if document:
            shown = render_document(ev.type, value, show_secrets=show_secrets) if known else plain(value)
        else:
            shown = render_stored(ev.type, value, show_secrets=show_secrets) if known else plain(value)
        if not flt.where_ok(shown):
            return
        emit(Rendered(ev, record_name(ev.type), value, shown))

    return run_scan(path, on_record, record_types=flt.types or None, plain_tar=plain_tar)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def export_lines(
    path: str | os.PathLike[str],
    out: IO[str],
    *,
    flt: RecordFilter = RecordFilter(),
    show_secrets: bool = False,
    plain_tar: bool = False,
) -> tuple[ArchiveScan, int]:
    """Write one JSON line per kept record; returns the scan and the count."""
    count = 0

    def emit(r: Rendered) -> None:
        nonlocal count
        ev = r.event
        line: dict[str, Any] = {
            "Index": ev.index,
            "Type": r.name,
            "TypeNumber": ev.type,
            "Offset": ev.offset,
            "Size": ev.size,
            "Value": r.json_value,
        }
        if by_number(ev.type) is None:
            line["Raw"] = base64.b64encode(ev.raw or b"").decode()
        out.write(_dumps(line))
        out.write("\n")
        count += 1

    result = iter_records(path, emit, flt=flt, show_secrets=show_secrets, plain_tar=plain_tar)
    return result, count


def _meta_object(result: ArchiveScan) -> Any:
    raw = result.meta_parts[-1] if result.meta_parts else b""
    try:
        return json.loads(raw.decode("utf-8", "replace")) if raw.strip() else None
    except json.JSONDecodeError:
        return None


def export_document(
    path: str | os.PathLike[str],
    out: IO[str],
    *,
    flt: RecordFilter = RecordFilter(),
    show_secrets: bool = False,
    nomad_tables: bool = False,
    plain_tar: bool = False,
    indent: int = 2,
) -> tuple[ArchiveScan, dict[str, int]]:
    """Write the whole state as one JSON document (see the module notes).

    Returns the scan and the number of objects per table."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="snaptool-state-") as tmp:
        spools: dict[str, IO[str]] = {}

        def emit(r: Rendered) -> None:
            table = table_of(r.event.type)
            if nomad_tables and table not in NOMAD_TABLES and table != ROOT_KEYS_TABLE:
                return
            obj = r.json_value
            if table == "Unknown":
                obj = {
                    "TypeNumber": r.event.type,
                    "Offset": r.event.offset,
                    "Size": r.event.size,
                    "Raw": base64.b64encode(r.event.raw or b"").decode(),
                }
            f = spools.get(table)
            if f is None:
                f = spools[table] = open(  # noqa: SIM115 - closed below
                    os.path.join(tmp, f"{len(spools)}.jsonl"), "w+", encoding="utf-8"
                )
            f.write(_dumps(obj))
            f.write("\n")
            counts[table] = counts.get(table, 0) + 1

        try:
            result = iter_records(
                path, emit, flt=flt, document=True, show_secrets=show_secrets, plain_tar=plain_tar
            )
            names = set(NOMAD_TABLES) | set(spools) | {"SnapshotMeta"}
            meta = _meta_object(result)
            pad = " " * indent
            out.write("{")
            first = True
            for name in sorted(names):
                out.write("" if first else ",")
                first = False
                out.write(f"\n{pad}{json.dumps(name)}: [")
                items: Iterator[Any]
                if name == "SnapshotMeta":
                    items = iter([meta] if meta is not None else [])
                elif name in spools:
                    f = spools[name]
                    f.seek(0)
                    items = (json.loads(line) for line in f)
                else:
                    items = iter(())
                n = 0
                for obj in items:
                    text = json.dumps(obj, ensure_ascii=False, indent=indent)
                    text = text.replace("\n", "\n" + pad * 2)
                    out.write(("," if n else "") + f"\n{pad * 2}{text}")
                    n += 1
                out.write(f"\n{pad}]" if n else "]")
            out.write("\n}\n")
        finally:
            for f in spools.values():
                f.close()
    return result, counts
