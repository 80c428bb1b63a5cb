"""Compare two snapshot archives: metadata, per-type totals, objects, fields.

Strategy (memory grows with the number of objects, never with their size,
and no two decoded snapshots are ever held at once):

* **Pass 1, A.** One streaming scan. Per record in scope (``--type``): 96
  bits of SHA-256 of the value bytes, plus the type byte, map to the record
  number. Nothing is decoded: equal bytes mean an equal object, key included.
  About 140 bytes of memory per object.
* **Pass 1, B.** Per record: a byte-identical twin in A means unchanged (the
  twin is marked in a bitmap by A's record number). Only the others, usually
  few, are decoded, and only their natural key fields (the registry's
  :attr:`RecordType.key`, read from the top-level map by a throw-away
  ``msgpack.Unpacker`` that skips every other value); they are kept by key.
* **Pass 2.** A is scanned again; its unmatched records are keyed the same
  way: a key B also has makes a *candidate* pair, else the object was
  *removed*; B's keys left over were *added*. The candidates' A bytes are
  held (at most ``max_pending`` bytes a round; over budget, pass 2 repeats),
  B is scanned again, and each pair is decoded and compared field by field
  and dropped at once. A pair whose decoded values are equal (Go writes maps
  in random key order, integers in varying widths) is not a change.

Duplicate keys within one archive (Nomad never writes them; its restore
keeps the last) are compared best-effort: a byte-identical twin counts as
seen, other duplicates may show as an extra added or removed object.

So archives that differ only in packaging (gzip bytes, tar mtimes, the
SHA256SUMS line order, record order within a type, Go map order inside a
record) have the same content.

Content, for the exit status: the metadata fields Version, Index, Term,
ConfigurationIndex and Configuration.Servers (ID, Address, Suffrage), and the
decoded objects. meta.json's ID (creation time) and Size, and per-type byte
sums, are reported but are not content. With an object filter (types,
namespaces, ids) only the objects in scope count.

Values are shown as Nomad's JSON would show them, with three differences:
times (Go ``time.Time`` and int64 Unix-nanosecond fields whose name ends in
``Time``) are RFC 3339 with nanoseconds; binary values (``[]byte`` fields,
not UTF-8) are ``"<N bytes sha256:HEX16>"``; secret fields are never shown,
only that they were added, removed or changed. Secret fields are named by
the registry's :attr:`RecordType.secrets` (dotted paths: their last name is
used) plus :data:`EXTRA_SECRETS`, and matched by field name at any depth of
the object, so at least what the paths name is masked.

Field paths: a struct field or map key is ``Name`` (``.Name`` after another
segment), or ``["key"]`` when it is not identifier-like; a list of maps that
all carry a unique string ``Name`` (else ``ID``, ``Key``, ``Label``) is
indexed by it, ``TaskGroups[web]`` (``["0"]`` when it is all digits); other
lists of maps by position, ``[0]``; a list of scalars is one value.

JSON (``snaptool diff --json``), schema ``snaptool.diff/1``; fields are
only ever added within a schema version::

    {
      "schema": "snaptool.diff/1",
      "same": bool,                      # exit status 0 when true
      "filters": {"types": [str], "namespaces": [str], "ids": [str]},
      "a": SIDE, "b": SIDE,
      "meta": [{"field": str, "a": any, "b": any}],
      "types": [{"type": int, "name": str,
                 "a": {"count": int, "size": int},
                 "b": {"count": int, "size": int},
                 "added": int, "removed": int, "changed": int}],
      "summary": {"added": int, "removed": int, "changed": int},
      "objects": [OBJECT]                # absent with --stat
    }
    SIDE   = {"file": str, "meta": {"Version", "ID", "Index", "Term",
              "ConfigurationIndex", "Size", "Servers": [{"ID", "Address",
              "Suffrage"}]} or null, "problems": [str]}
    OBJECT = {"op": "added" | "removed" | "changed",
              "type": int, "name": str,  # record type number and name
              "key": {field: value},      # the natural key ({} for singletons;
                                          # {"#": n} when the key is missing)
              "id": str,                  # key values joined by "/" ("#n"
                                          # for the n-th record of a type
                                          # without its key fields)
              "size": {"a": int | null, "b": int | null},
              "changes": [CHANGE]}        # only for "changed"
    CHANGE = {"path": str, "op": "changed" | "added" | "removed" | "reordered",
              "old": any, "new": any,     # absent when not applicable
              "secret": true}             # present only for secret fields,
                                          # which then carry no old/new

``objects`` are sorted by type number, then key; ``changes`` follow A's
field order, then fields new in B.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from .checks import Target, check
from .errors import InputError, UsageError
from .findings import Finding
from .format.records import REGISTRY, by_number, record_name
from .meta import MetaError, SnapshotMeta
from .stream.reader import ArchiveScan, Limits, scan
from .stream.statewalk import RecordEvent
from .values import go_time_text, is_binary, raw_bytes, rfc3339_nano

#: Seconds from 0001-01-01 to 1970-01-01 (Go binary times count from year 1).
_UNIX_FROM_YEAR1 = 62135596800

__all__ = [
    "EXTRA_SECRETS",
    "SCHEMA",
    "DiffReport",
    "FieldChange",
    "MetaChange",
    "ObjectChange",
    "Side",
    "TypeDelta",
    "diff",
    "diff_values",
    "parse_types",
]

SCHEMA = "snaptool.diff/1"

#: Secret fields beyond the registry's, by type name (kept here too so that a
#: registry edit cannot unmask them): ACL token secrets, variable data, root
#: key material, node secrets.
EXTRA_SECRETS: dict[str, frozenset[str]] = {
    "ACLToken": frozenset({"SecretID"}),
    "Variables": frozenset({"Data"}),
    "RootKeyMeta": frozenset({"Key", "RSAKey"}),
    "WrappedRootKeys": frozenset(
        {"WrappedKeys", "Key", "RSAKey", "KeyEncryptionKey", "WrappedDataEncryptionKey",
         "WrappedRSAKey"}
    ),
    "Node": frozenset({"SecretID"}),
    "ACLAuthMethod": frozenset({"OIDCClientSecret"}),
}

#: List-item identity fields, in order of preference.
_LIST_KEYS = ("Name", "ID", "Key", "Label")

#: Stream problems after which a side's content is not known completely.
_UNREADABLE = frozenset(
    {
        "input.empty",
        "input.not-gzip",
        "gzip.bad-header",
        "gzip.bad-deflate",
        "gzip.truncated",
        "gzip.crc-mismatch",
        "gzip.isize-mismatch",
        "tar.bad-header",
        "tar.truncated",
        "state.empty",
        "state.bad-header",
        "state.truncated",
        "state.undecodable",
        "state.record-too-large",
        "limit.exceeded",
    }
)

_META_FIELDS = ("Version", "Index", "Term", "ConfigurationIndex", "Servers")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_ITEM = re.compile(r"[A-Za-z0-9_.:@/-]+\Z")

#: int64 Unix nanoseconds from 1973 on, in fields named ``...Time``.
_MIN_NANOS = 10**17


# -- values -------------------------------------------------------------------


def _nanos_text(value: int) -> str:
    secs, nanos = divmod(value, 1_000_000_000)
    return rfc3339_nano(secs + _UNIX_FROM_YEAR1, nanos, 0)


def _binary_text(value: str | bytes) -> str:
    data = raw_bytes(value) if isinstance(value, str) else value
    return f"<{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:16]}>"


def render(value: Any, name: str = "", secrets: frozenset[str] = frozenset()) -> Any:
    """A decoded value as JSON shows it in a diff (see the module notes);
    ``name`` is the field it sits in (for int64 times), values of fields in
    ``secrets`` become ``"<secret>"``."""
    if isinstance(value, str):
        text = go_time_text(value)
        if text is not None:
            return text
        if is_binary(value):
            return _binary_text(value)
        return value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if name.endswith("Time") and _MIN_NANOS <= value < 2**63:
            return _nanos_text(value)
        return value
    if isinstance(value, dict):
        return {
            str(k): "<secret>" if k in secrets else render(v, str(k), secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [render(v, name, secrets) for v in value]
    if isinstance(value, bytes):
        return _binary_text(value)
    return repr(value)


# -- field-level comparison ------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One difference inside an object; ``old``/``new`` are rendered values
    (None when absent: see ``op``) and never set for a secret field."""

    path: str
    op: str  # changed | added | removed | reordered
    old: Any = None
    new: Any = None
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.secret:
            out["secret"] = True
            return out
        if self.op in ("changed", "removed", "reordered"):
            out["old"] = self.old
        if self.op in ("changed", "added", "reordered"):
            out["new"] = self.new
        return out


def _seg_field(path: str, key: Any) -> str:
    k = str(key)
    if _IDENT.match(k):
        return f"{path}.{k}" if path else k
    return f"{path}[{json.dumps(k, ensure_ascii=False)}]"


def _seg_item(path: str, ident: str) -> str:
    if _ITEM.match(ident) and not ident.isdigit():
        return f"{path}[{ident}]"
    return f"{path}[{json.dumps(ident, ensure_ascii=False)}]"


def _same_leaf(a: Any, b: Any) -> bool:
    # True == 1 and 1 == 1.0 in Python; in Go they are different values.
    return type(a) is type(b) and a == b


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return _same_leaf(a, b)


def _list_key(a: list[Any], b: list[Any]) -> str | None:
    items = a + b
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for name in _LIST_KEYS:
        if (
            all(isinstance(x.get(name), str) for x in items)
            and len({x[name] for x in a}) == len(a)
            and len({x[name] for x in b}) == len(b)
        ):
            return name
    return None


def _is_scalar(x: Any) -> bool:
    return not isinstance(x, (dict, list))


def diff_values(
    a: Any, b: Any, secrets: frozenset[str] = frozenset(), path: str = ""
) -> list[FieldChange]:
    """Field-level differences between two decoded values (see module notes)."""
    out: list[FieldChange] = []
    _walk(a, b, path, "", secrets, out)
    return out


def _walk(
    a: Any, b: Any, path: str, name: str, secrets: frozenset[str], out: list[FieldChange]
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k, va in a.items():
            p = _seg_field(path, k)
            secret = k in secrets
            if k not in b:
                out.append(FieldChange(p, "removed", None if secret else render(va, str(k), secrets),
                                       secret=secret))
            elif secret:
                if not _equal(va, b[k]):
                    out.append(FieldChange(p, "changed", secret=True))
            else:
                _walk(va, b[k], p, str(k), secrets, out)
        for k, vb in b.items():
            if k not in a:
                secret = k in secrets
                out.append(FieldChange(_seg_field(path, k), "added", None,
                                       None if secret else render(vb, str(k), secrets),
                                       secret=secret))
        return
    if isinstance(a, list) and isinstance(b, list):
        if all(_is_scalar(x) for x in a) and all(_is_scalar(x) for x in b):
            if not _equal(a, b):
                out.append(FieldChange(path, "changed", render(a, name, secrets),
                                       render(b, name, secrets)))
            return
        ident = _list_key(a, b)
        if ident is not None:
            _walk_keyed(a, b, path, ident, name, secrets, out)
            return
        for i in range(max(len(a), len(b))):
            p = f"{path}[{i}]"
            if i >= len(b):
                out.append(FieldChange(p, "removed", render(a[i], name, secrets)))
            elif i >= len(a):
                out.append(FieldChange(p, "added", None, render(b[i], name, secrets)))
            else:
                _walk(a[i], b[i], p, name, secrets, out)
        return
    if not _equal(a, b):
        out.append(FieldChange(path, "changed", render(a, name, secrets), render(b, name, secrets)))


def _walk_keyed(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    path: str,
    ident: str,
    name: str,
    secrets: frozenset[str],
    out: list[FieldChange],
) -> None:
    in_b = {x[ident]: x for x in b}
    in_a = {x[ident]: x for x in a}
    for item in a:
        p = _seg_item(path, item[ident])
        other = in_b.get(item[ident])
        if other is None:
            out.append(FieldChange(p, "removed", render(item, name, secrets)))
        else:
            _walk(item, other, p, name, secrets, out)
    for item in b:
        if item[ident] not in in_a:
            out.append(FieldChange(_seg_item(path, item[ident]), "added", None,
                                   render(item, name, secrets)))
    common_a = [x[ident] for x in a if x[ident] in in_b]
    common_b = [x[ident] for x in b if x[ident] in in_a]
    if common_a != common_b:
        out.append(FieldChange(path, "reordered", common_a, common_b))


# -- keys --------------------------------------------------------------------------


def _key_fields(number: int) -> tuple[str, ...]:
    rt = by_number(number)
    return rt.key if rt is not None else ("ID",)


def secrets_for(number: int) -> frozenset[str]:
    """The secret field names of a record type: the last name of each of the
    registry's dotted paths, plus :data:`EXTRA_SECRETS`. They are matched at
    any depth, which masks at least what the paths name."""
    rt = by_number(number)
    if rt is None:
        return frozenset()
    names = {path.rsplit(".", 1)[-1] for path in rt.secrets}
    return frozenset(names) | EXTRA_SECRETS.get(rt.name, frozenset())


def pick(raw: bytes, names: frozenset[str]) -> dict[str, Any] | None:
    """The named fields of a record's top-level map, decoding nothing else
    (every other value is skipped, and reading stops once all are found);
    None when the value is not a map."""
    up = msgpack.Unpacker(
        raw=False,
        unicode_errors="surrogateescape",
        strict_map_key=False,
        max_buffer_size=max(len(raw), 1),
    )
    up.feed(raw)
    found: dict[str, Any] = {}
    try:
        n = up.read_map_header()
        for _ in range(n):
            k = up.unpack()
            if isinstance(k, str) and k in names:
                found[k] = up.unpack()
                if len(found) == len(names):
                    break
            else:
                up.skip()
    except (ValueError, msgpack.UnpackException):
        return None if not found else found
    return found


def parse_types(values: Iterable[str]) -> frozenset[int]:
    """``--type`` values: names (any case, Nomad's or registry aliases) or numbers."""
    by_name = {rt.name.lower(): rt.number for rt in REGISTRY}
    by_name.update({a.lower(): rt.number for rt in REGISTRY for a in rt.aliases})
    out = set()
    for text in values:
        for part in text.split(","):
            p = part.strip()
            if not p:
                continue
            if p.isdigit() and 0 <= int(p) < 256:
                out.add(int(p))
            elif p.lower() in by_name:
                out.add(by_name[p.lower()])
            else:
                raise UsageError(
                    f"unknown record type {p!r} (a number, or one of: "
                    + ", ".join(rt.name for rt in REGISTRY)
                    + ")"
                )
    return frozenset(out)


# -- report --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaChange:
    field: str
    a: Any
    b: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "a": self.a, "b": self.b}


@dataclass
class TypeDelta:
    number: int
    name: str
    count_a: int = 0
    count_b: int = 0
    size_a: int = 0
    size_b: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.number,
            "name": self.name,
            "a": {"count": self.count_a, "size": self.size_a},
            "b": {"count": self.count_b, "size": self.size_b},
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
        }


@dataclass
class ObjectChange:
    op: str  # added | removed | changed
    number: int
    key: dict[str, Any]
    size_a: int | None = None
    size_b: int | None = None
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def name(self) -> str:
        return record_name(self.number)

    @property
    def id(self) -> str:
        if "#" in self.key:  # no natural key: the record's place among its type
            return f"#{self.key['#']}"
        return "/".join(str(v) for v in self.key.values())

    def sort_key(self) -> tuple[Any, ...]:
        return (self.number, tuple(str(v) for v in self.key.values()), self.op)

    def to_dict(self, with_changes: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op,
            "type": self.number,
            "name": self.name,
            "key": self.key,
            "id": self.id,
            "size": {"a": self.size_a, "b": self.size_b},
        }
        if self.op == "changed" and with_changes:
            out["changes"] = [c.to_dict() for c in self.changes]
        return out


@dataclass
class Side:
    """One archive as the diff read it."""

    path: str
    meta: SnapshotMeta | None
    problems: list[str]

    def meta_dict(self) -> dict[str, Any] | None:
        m = self.meta
        if m is None:
            return None
        return {
            "Version": m.Version,
            "ID": m.ID,
            "Index": m.Index,
            "Term": m.Term,
            "ConfigurationIndex": m.ConfigurationIndex,
            "Size": m.Size,
            "Servers": _servers(m),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "meta": self.meta_dict(), "problems": self.problems}


def _servers(m: SnapshotMeta) -> list[dict[str, Any]] | None:
    if m.Servers is None:
        return None
    return [{"ID": s.ID, "Address": s.Address, "Suffrage": s.suffrage_name} for s in m.Servers]


@dataclass
class DiffReport:
    a: Side
    b: Side
    meta: list[MetaChange]
    types: list[TypeDelta]
    objects: list[ObjectChange]
    filters: dict[str, list[str]]

    @property
    def filtered(self) -> bool:
        return any(self.filters.values())

    @property
    def same(self) -> bool:
        """No content difference in scope (see module notes)."""
        if self.objects:
            return False
        return self.filtered or not self.meta

    def summary(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0}
        for o in self.objects:
            out[o.op] += 1
        return out

    def to_dict(self, stat: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "same": self.same,
            "filters": self.filters,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "meta": [m.to_dict() for m in self.meta],
            "types": [t.to_dict() for t in self.types],
            "summary": self.summary(),
        }
        if not stat:
            out["objects"] = [o.to_dict() for o in self.objects]
        return out


# -- the passes ------------------------------------------------------------------------


class _Scope:
    def __init__(
        self,
        types: frozenset[int] | None,
        namespaces: tuple[str, ...],
        ids: tuple[str, ...],
    ) -> None:
        self.types = types
        self.namespaces = frozenset(namespaces)
        self.ids = ids
        self._names: dict[int, frozenset[str]] = {}

    def wants_type(self, number: int) -> bool:
        return self.types is None or number in self.types

    def names(self, number: int) -> frozenset[str]:
        names = self._names.get(number)
        if names is None:
            names = frozenset(_key_fields(number))
            if self.namespaces:
                names |= {"Name" if number == 64 else "Namespace"}
            self._names[number] = names
        return names

    def key_of(self, number: int, raw: bytes, ordinal: int) -> dict[str, Any] | None:
        """The record's natural key, or None when the filters exclude it."""
        fields = _key_fields(number)
        names = self.names(number)
        got = pick(raw, names) if names else {}
        if got is not None and all(f in got for f in fields):
            key = {f: _key_value(got[f]) for f in fields}
        else:
            key = {"#": ordinal}
            got = got or {}
        if self.namespaces:
            ns = got.get("Name" if number == 64 else "Namespace")
            if ns not in self.namespaces:
                return None
        if self.ids:
            texts = [str(v) for v in key.values()] + ["/".join(str(v) for v in key.values())]
            if not any(fnmatch.fnmatchcase(t, pat) for pat in self.ids for t in texts):
                return None
        return key


def _key_value(v: Any) -> Any:
    if type(v) is str and v.isprintable():  # the usual case, and never a time
        return v
    if type(v) is int:
        return v
    return render(v)


def _key_hash(number: int, key: dict[str, Any]) -> bytes:
    parts = [str(number)]
    for name, v in key.items():
        parts.append(v if type(v) is str else f"{name}\x01{v!r}")
    text = "\x00".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()[:12]


def _digest(number: int, raw: bytes) -> bytes:
    """96 bits of SHA-256 of the value, and the type byte: a record's identity
    in pass 1. (SHA-256 is the fastest hashlib digest with SHA extensions.)"""
    return hashlib.sha256(raw).digest()[:12] + _TYPE_BYTES[number]


_TYPE_BYTES = [bytes((i,)) for i in range(256)]




def _read(path: str, on_record: Callable[[RecordEvent], None], limits: Limits) -> ArchiveScan:
    result = scan(path, on_record=on_record, keep_raw=True, limits=limits)
    bad = [f for f in result.findings if f.code in _UNREADABLE]
    if bad:
        raise InputError(f"cannot read the archive completely: {bad[0].message}", where=path)
    if result.state is None or "state.bin" not in result.seen:
        raise InputError("the archive has no state.bin", where=path)
    if not result.state.complete:
        raise InputError("state.bin could not be read to its end", where=path)
    return result


def _side(path: str, result: ArchiveScan) -> Side:
    problems: list[Finding] = []
    meta: SnapshotMeta | None
    try:
        meta = check(result, Target())
    except MetaError:
        meta = None
    problems = [f for f in result.findings if f.severity == "reject"]
    texts = []
    for f in problems:
        where = f.location()
        texts.append(f"{f.code}: {where + ': ' if where else ''}{f.message}")
    if meta is None and "meta.json" in result.seen:
        try:
            meta = SnapshotMeta.parse(result.meta_raw)
        except MetaError:
            meta = None
    return Side(path, meta, texts)


def _meta_changes(a: SnapshotMeta | None, b: SnapshotMeta | None) -> list[MetaChange]:
    if a is None and b is None:
        return []
    if a is None or b is None:
        return [MetaChange("meta.json", "present" if a else None, "present" if b else None)]
    out = []
    for name in _META_FIELDS:
        va = _servers(a) if name == "Servers" else getattr(a, name)
        vb = _servers(b) if name == "Servers" else getattr(b, name)
        if va != vb:
            out.append(MetaChange(name, va, vb))
    return out


def diff(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    *,
    types: frozenset[int] | None = None,
    namespaces: Iterable[str] = (),
    ids: Iterable[str] = (),
    fields: bool = True,
    max_pending: int = 256 << 20,
    limits: Limits = Limits(),
) -> DiffReport:
    """Compare archive A with archive B (see the module notes).

    ``types``, ``namespaces`` and ``ids`` restrict the objects compared:
    ``namespaces`` keeps objects whose ``Namespace`` field (a Namespace
    record's ``Name``) is one of them, so types without one drop out;
    ``ids`` are shell patterns matched against each key value and the joined
    id. ``fields=False`` skips the field lists (``--stat``).
    ``max_pending`` bounds the value bytes of A held at once in pass 2.
    """
    pa, pb = os.fspath(path_a), os.fspath(path_b)
    scope = _Scope(types, tuple(namespaces), tuple(ids))

    # pass 1, A: value digest -> record number. Equal bytes mean an equal
    # object (the key is read from those bytes), so no key is decoded here.
    seen_a: dict[bytes, int] = {}
    twins: list[int] = []  # earlier copies of a byte-identical record

    def index_a(ev: RecordEvent) -> None:
        if scope.wants_type(ev.type):
            d = _digest(ev.type, ev.raw or b"")
            prev = seen_a.get(d)
            if prev is not None:
                twins.append(prev)
            seen_a[d] = ev.index

    scan_a = _read(pa, index_a, limits)
    side_a = _side(pa, scan_a)

    # pass 1, B: a record with a byte-identical twin in A is unchanged (the
    # twin is marked in a bitmap by A's record number); the others, usually
    # few, are keyed and kept: changed or added, as pass 2 will tell.
    matched = bytearray(scan_a.state.records if scan_a.state else 0)
    for ia in twins:
        matched[ia] = 1
    unmatched_b: dict[bytes, tuple[int, int, int, dict[str, Any]]] = {}
    ordinals: dict[int, int] = {}

    def index_b(ev: RecordEvent) -> None:
        if not scope.wants_type(ev.type):
            return
        n = ordinals[ev.type] = ordinals.get(ev.type, -1) + 1
        ia = seen_a.get(_digest(ev.type, ev.raw or b""))
        if ia is not None:
            matched[ia] = 1
            return
        key = scope.key_of(ev.type, ev.raw or b"", n)
        if key is not None:
            unmatched_b[_key_hash(ev.type, key)] = (ev.index, ev.type, ev.size, key)

    scan_b = _read(pb, index_b, limits)
    side_b = _side(pb, scan_b)
    seen_a.clear()

    objects = _Pass2(scope, matched, unmatched_b, fields, max_pending).run(
        pa, pb, limits, scan_a.hashes.get("state.bin"), scan_b.hashes.get("state.bin")
    )
    objects.sort(key=ObjectChange.sort_key)

    return DiffReport(
        side_a,
        side_b,
        _meta_changes(side_a.meta, side_b.meta),
        _type_deltas(scan_a, scan_b, scope, objects),
        objects,
        {
            "types": sorted(record_name(t) for t in types) if types else [],
            "namespaces": sorted(scope.namespaces),
            "ids": list(scope.ids),
        },
    )


Pending = dict[int, tuple[int, int, dict[str, Any], bytes]]  # B no. -> type, size, key, A bytes


class _Pass2:
    """Key A's unmatched records: a key B also has is a candidate, else the
    object was removed; B's keys left over were added. Then decode and compare
    each candidate pair, holding at most ``max_pending`` bytes of A at once
    (one round per budget's worth)."""

    def __init__(
        self,
        scope: _Scope,
        matched: bytearray,
        unmatched_b: dict[bytes, tuple[int, int, int, dict[str, Any]]],
        fields: bool,
        max_pending: int,
    ) -> None:
        self.scope, self.matched, self.unmatched_b = scope, matched, unmatched_b
        self.fields, self.max_pending = fields, max_pending
        self.out: list[ObjectChange] = []
        self.candidates: dict[int, tuple[int, dict[str, Any]]] = {}  # A no. -> B no., key
        self.todo: set[int] | None = None  # None: the first round, which finds them
        self._reset()

    def _reset(self) -> None:
        self.pending: Pending = {}
        self.budget = self.max_pending
        self.later: set[int] = set()
        self.ordinals: dict[int, int] = {}

    def on_a(self, ev: RecordEvent) -> None:
        if not self.scope.wants_type(ev.type):
            return
        n = self.ordinals[ev.type] = self.ordinals.get(ev.type, -1) + 1
        if self.matched[ev.index]:
            return
        raw = ev.raw or b""
        if self.todo is None:
            key = self.scope.key_of(ev.type, raw, n)
            if key is None:
                return
            other = self.unmatched_b.pop(_key_hash(ev.type, key), None)
            if other is None:
                self.out.append(ObjectChange("removed", ev.type, key, ev.size, None))
                return
            self.candidates[ev.index] = (other[0], key)
        elif ev.index not in self.todo:
            return
        if self.pending and self.budget < len(raw):
            self.later.add(ev.index)
            return
        self.budget -= len(raw)
        ib, key = self.candidates[ev.index]
        self.pending[ib] = (ev.type, ev.size, key, raw)

    def after_a(self) -> None:
        if self.todo is None:
            for _, number, size, key in self.unmatched_b.values():
                self.out.append(ObjectChange("added", number, key, None, size))
            self.unmatched_b.clear()
        self.todo = self.later

    def on_b(self, ev: RecordEvent) -> None:
        item = self.pending.pop(ev.index, None)
        if item is None:
            return
        number, size_a, key, raw_a = item
        changes = diff_values(_decode(raw_a), _decode(ev.raw or b""), secrets_for(number))
        if changes:
            self.out.append(
                ObjectChange("changed", number, key, size_a, ev.size, changes if self.fields else [])
            )

    def run(
        self, pa: str, pb: str, limits: Limits, hash_a: str | None, hash_b: str | None
    ) -> list[ObjectChange]:
        if all(self.matched) and not self.unmatched_b:
            return self.out
        while self.todo is None or self.todo:
            self._reset()
            _same_file(pa, _read(pa, self.on_a, limits), hash_a)
            self.after_a()
            if self.pending:
                _same_file(pb, _read(pb, self.on_b, limits), hash_b)
        return self.out


def _decode(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, unicode_errors="surrogateescape", strict_map_key=False)


def _same_file(path: str, result: ArchiveScan, expected: str | None) -> None:
    if result.hashes.get("state.bin") != expected:
        raise InputError("the file changed while it was being compared", where=path)


def _type_deltas(
    a: ArchiveScan, b: ArchiveScan, scope: _Scope, objects: list[ObjectChange]
) -> list[TypeDelta]:
    ta = a.state.types if a.state else {}
    tb = b.state.types if b.state else {}
    rows: dict[int, TypeDelta] = {}
    for number in sorted(set(ta) | set(tb)):
        if not scope.wants_type(number):
            continue
        row = rows[number] = TypeDelta(number, record_name(number))
        if number in ta:
            row.count_a, row.size_a = ta[number].count, ta[number].sum
        if number in tb:
            row.count_b, row.size_b = tb[number].count, tb[number].sum
    for o in objects:
        row = rows.setdefault(o.number, TypeDelta(o.number, o.name))
        setattr(row, o.op, getattr(row, o.op) + 1)
    return [rows[n] for n in sorted(rows)]
