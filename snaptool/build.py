"""Build snapshot archives that a real Nomad restores, reproducibly.

``snaptool build MANIFEST -o OUT`` and :func:`build` turn a manifest (YAML
or JSON) into an archive written as Nomad's ``helper/snapshot`` writes one
(see :mod:`snaptool.stream.writer`): USTAR headers as Go writes them, two
end blocks and no record padding, one gzip member with Go's header bytes,
meta.json as compact JSON plus a newline, SHA256SUMS lines ``%x  %s\\n``.

Reproducible: the same manifest (and base archive) and the same mtime give
the same bytes. The mtime (``--mtime``; default ``SOURCE_DATE_EPOCH`` when
set, else 0) is the tar entries' ModTime and the millisecond part of the
default ID. **SHA256SUMS lists meta.json first, then state.bin** (Nomad's
order is random, both are accepted). The deflate stream comes from zlib, so
the compressed bytes are reproducible for a given zlib version
(``zlib.ZLIB_RUNTIME_VERSION``); the tar inside is reproducible everywhere.

Manifest
--------

.. code-block:: yaml

    from: base.snap        # optional: start from this archive (path relative
                           # to the manifest); its records are kept byte for byte
    meta:                  # all optional (Go names or snake_case)
      Index: 120           # default: the base's, else the highest index in the
                           # records (CreateIndex, ModifyIndex, ..., Index values), at least 1
      Term: 2              # default: the base's, else 1
      ID: "2-120-0"        # default: "<Term>-<Index>-<mtime in ms>" (kept from
                           # the base when Index and Term are unchanged)
      Version: 1           # default 1 (the only version raft restores)
      ConfigurationIndex: 1
      Servers:             # default: the base's, else one voter 127.0.0.1:4647
        - {ID: 127.0.0.1:4647, Address: 127.0.0.1:4647, Suffrage: 0}
                           # Peers (the voters' addresses) and Size are computed
    indexes: auto          # auto (default) | none: see "Index records"
    derive: true           # default true: see "Derived records"
    remove:                # records to drop: type and fields to match
      - Job: {Namespace: default, ID: old}       # every field given must equal
      - JobVersion: {Namespace: default, ID: old}  # (all versions of old)
    patch:                 # change fields of existing records, keep the rest
      - Job: {Namespace: default, ID: web}
        set: {Priority: 70, Meta: {rev: "3"}}     # maps merge, other values replace
    records:               # add, or replace by the type's natural key
      - Namespace: {Name: team-a, Description: "team A"}
      - type: Job          # long form; type is a registry name or a number
        body: {Namespace: team-a, ID: api, Type: service, ...}
      - type: 99
        raw: "gqNLZXmjZm9v"   # base64 of one msgpack value, written as is

Record bodies are JSON-like; :func:`snaptool.codec.typed` chooses Go's
msgpack formats from the field names (unsigned for ``...Index`` fields, job
``Version`` and a few more; RFC 3339 text for time fields; base64 for
``[]byte`` fields; ``{"$uint": n}``-style forms override). Key order is the
body's order.

Order of work: the base's records (or none) -> ``remove`` (each entry must
match at least one record) -> ``patch`` (each must match) -> ``records``:
a record whose type has a natural key (:attr:`RecordType.key`, e.g.
Namespace+ID for jobs, Name for namespaces, Key for Index records) replaces
the record with the same key in place; a type without a key
(SchedulerConfig, ClusterMetadata, TimeTable) replaces the one record of its
type; anything else is added after the last record of its type, or where
Nomad's Persist order puts that type. Records never touched keep their exact
bytes; patched records are decoded and re-encoded with :mod:`snaptool.codec`,
which reproduces every byte it did not change.

Derived records (``derive: true``)
    A Nomad server lists jobs only when each has a JobSummary (``/v1/jobs``
    fails with "unable to look up summary" otherwise), and keeps every job
    version in ``job_version``. For each Job without a JobSummary (same
    Namespace and ID) a JobSummary is added: one all-zero TaskGroupSummary
    per task group, zero Children, the job's CreateIndex and ModifyIndex.
    For each Job without a JobVersion of its Version, a JobVersion is added
    whose bytes are the Job record's bytes (as Nomad writes them).

Index records (``indexes: auto``, when the manifest lists no Index records)
    Nomad persists one Index record (Key = memdb table, Value = the table's
    last index) for each table written to. A genuine 1.6.1 snapshot holds
    allocs, csi_plugins, deployment, evals, job_summary, job_version, jobs,
    namespaces, node_pools, nodes, periodic_launch, root_key_meta,
    scaling_policy and variables. For each record type in the result, the
    table in :data:`INDEX_TABLES` gets an Index record whose Value is the
    highest ``...Index`` field among that type's records (the meta Index
    when none has one); an existing Index record is raised to that value if
    lower, else left as it is. Types with no table of their own
    (SchedulerConfig, ClusterMetadata, VariablesQuota, TimeTable) get none.
    New Index records are sorted by Key, as memdb iterates them.

Errors (:class:`ManifestError`) are one line naming the manifest and the
entry, e.g. ``m.yaml: records[2] (Job): TaskGroups.Count: ...``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import codec
from .errors import InputError, SnaptoolError
from .format.records import REGISTRY, RecordType, by_number
from .meta import Server, SnapshotMeta, go_json
from .stream.writer import SUMS_ORDER, archive_bytes, atomic_write

__all__ = [
    "Built",
    "INDEX_TABLES",
    "ManifestError",
    "OutputError",
    "PERSIST_ORDER",
    "Record",
    "build",
    "default_mtime",
    "load_manifest",
]

#: The memdb table whose Index record a record type updates (Nomad 1.6.1
#: ``nomad/state``; later tables for later types).
INDEX_TABLES: dict[str, str] = {
    "Node": "nodes",
    "Job": "jobs",
    "Eval": "evals",
    "Alloc": "allocs",
    "PeriodicLaunch": "periodic_launch",
    "JobSummary": "job_summary",
    "VaultAccessor": "vault_accessors",
    "JobVersion": "job_version",
    "Deployment": "deployment",
    "ACLPolicy": "acl_policy",
    "ACLToken": "acl_token",
    "ServiceIdentityTokenAccessor": "si_token_accessors",
    "ScalingPolicy": "scaling_policy",
    "CSIPlugin": "csi_plugins",
    "CSIVolume": "csi_volumes",
    "ScalingEvents": "scaling_event",
    "ServiceRegistration": "service_registrations",
    "Variables": "variables",
    "RootKeyMeta": "root_key_meta",
    "ACLRole": "acl_roles",
    "ACLAuthMethod": "acl_auth_methods",
    "ACLBindingRule": "acl_binding_rules",
    "NodePool": "node_pools",
    "JobSubmission": "job_submission",
    "WrappedRootKeys": "root_keys",
    "HostVolumeSnapshot": "host_volumes",
    "Namespace": "namespaces",
}

#: Nomad's Persist order by type number (FORMAT-NOTES 3.3; TimeTable first as
#: up to 1.9.1; accessor types where 1.9 wrote them). Unknown types go last.
PERSIST_ORDER: tuple[int, ...] = (
    5, 2, 0, 28, 1, 3, 4, 6, 7, 8, 15, 9, 10, 16, 19, 17, 18, 11, 12, 64,
    65, 66, 67, 68, 69, 70, 13, 14, 21, 22, 23, 24, 30, 25, 26, 27, 29, 31, 20,
)
_RANK = {n: i for i, n in enumerate(PERSIST_ORDER)}

_BY_NAME: dict[str, RecordType] = {rt.name.lower(): rt for rt in REGISTRY}
_BY_NAME["sitokenaccessor"] = _BY_NAME["serviceidentitytokenaccessor"]
_BY_NAME["hostvolume"] = _BY_NAME["hostvolumesnapshot"]

DEFAULT_ADDRESS = "127.0.0.1:4647"

_TOP_KEYS = {"from", "meta", "indexes", "derive", "remove", "patch", "records", "expect", "about"}
_META_KEYS = {
    "index": "Index",
    "term": "Term",
    "id": "ID",
    "version": "Version",
    "configurationindex": "ConfigurationIndex",
    "servers": "Servers",
}


class ManifestError(SnaptoolError):
    """A manifest snaptool cannot build (names the manifest and the entry)."""


class OutputError(SnaptoolError):
    """The output cannot be written (exists without --force, is the input)."""


@dataclass
class Record:
    """One state.bin record: its type byte and the msgpack value's bytes."""

    type: int
    raw: bytes
    #: where it came from: "base", "manifest", "patched", "derived", "index"
    origin: str = "manifest"
    _value: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        rt = by_number(self.type)
        return rt.name if rt else f"Unknown({self.type})"

    @property
    def value(self) -> Any:
        """The decoded value (:func:`snaptool.codec.decode`), cached."""
        if self._value is None:
            self._value = codec.decode(self.raw)
        return self._value


@dataclass
class Built:
    """A built archive and what went into it."""

    archive: bytes
    meta: SnapshotMeta
    meta_json: bytes
    state: bytes
    records: list[Record]
    mtime: int

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.name] = out.get(r.name, 0) + 1
        return out

    def write(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write atomically (temp file in the target dir, then rename)."""
        _write(Path(path), self.archive, force=force, inputs=())


def default_mtime() -> int:
    """``SOURCE_DATE_EPOCH`` when set (an integer), else 0."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise SnaptoolError(f"SOURCE_DATE_EPOCH is not an integer: {text!r}") from None
    if value < 0:
        raise SnaptoolError(f"SOURCE_DATE_EPOCH is negative: {value}")
    return value


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML or JSON manifest (``.json`` is read as JSON, else YAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InputError("is a directory, not a manifest", where=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(getattr(exc, "strerror", None) or str(exc), where=str(p)) from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise ManifestError(f"not valid JSON: {exc}", where=str(p)) from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError and friends
        first = " ".join(str(exc).split())
        raise ManifestError(f"not valid YAML: {first}", where=str(p)) from None
    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a mapping (meta, records, ...)", where=str(p))
    return data


def build(
    manifest: dict[str, Any] | str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    mtime: int | None = None,
    force: bool = False,
    base_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
) -> Built:
    """Build an archive from a manifest (a mapping, or a path to YAML/JSON).

    ``mtime`` defaults to :func:`default_mtime`. ``base_dir`` resolves a
    relative ``from:`` (default: the manifest file's directory, or the
    current directory for a mapping). With ``output`` the archive is written
    atomically; an existing file is replaced only with ``force``, and never
    when it is the ``from`` archive. ``name`` labels errors (default: the
    manifest path, or ``<manifest>``).
    """
    if isinstance(manifest, dict):
        data = manifest
        label = name or "<manifest>"
        root = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        data = load_manifest(manifest)
        label = name or os.fspath(manifest)
        root = Path(base_dir) if base_dir is not None else Path(manifest).parent
    if mtime is None:
        mtime = default_mtime()
    if isinstance(mtime, bool) or not isinstance(mtime, int) or not 0 <= mtime < 8**11:
        raise SnaptoolError(f"mtime must be whole seconds from 0 to {8**11 - 1}, not {mtime!r}")
    builder = _Builder(data, label, root, mtime)
    built = builder.run()
    if output is not None:
        inputs = (builder.base_path,) if builder.base_path is not None else ()
        _write(Path(output), built.archive, force=force, inputs=inputs)
    return built


def _write(target: Path, data: bytes, *, force: bool, inputs: tuple[Path, ...]) -> None:
    for src in inputs:
        try:
            if target.exists() and os.path.samefile(target, src):
                raise OutputError("is the base archive; snaptool never overwrites its input", where=str(target))
        except OSError:
            pass
    if target.is_dir():
        raise OutputError("is a directory", where=str(target))
    if not target.parent.is_dir() and str(target.parent) not in ("", "."):
        raise OutputError(f"directory {target.parent} does not exist", where=str(target))
    try:
        atomic_write(target, data, force=force)
    except FileExistsError:
        raise OutputError("exists (use --force to replace it)", where=str(target)) from None
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc), where=str(target)) from None


# -- the builder ----------------------------------------------------------------


class _Builder:
    def __init__(self, data: dict[str, Any], label: str, root: Path, mtime: int) -> None:
        self.data = data
        self.label = label
        self.root = root
        self.mtime = mtime
        self.base_path: Path | None = None
        self.base_meta: SnapshotMeta | None = None
        self.header = b"\x80"
        self.records: list[Record] = []

    def fail(self, where: str, message: str) -> ManifestError:
        return ManifestError(f"{where}: {message}" if where else message, where=self.label)

    # -- steps ---------------------------------------------------------------

    def run(self) -> Built:
        unknown = sorted(k for k in self.data if not isinstance(k, str) or k not in _TOP_KEYS)
        if unknown:
            raise self.fail("", f"unknown key {unknown[0]!r} (expected: {', '.join(sorted(_TOP_KEYS))})")
        if self.data.get("from") is not None:
            self._load_base(self.data["from"])
        self._remove(self._list("remove"))
        self._patch(self._list("patch"))
        listed_index = self._add(self._list("records"))
        derive = self._flag("derive", True)
        if derive:
            self._derive()
        indexes = self.data.get("indexes", "auto")
        if indexes not in ("auto", "none"):
            raise self.fail("indexes", f"must be auto or none, not {indexes!r}")
        meta = self._meta_defaults()
        if indexes == "auto" and not listed_index:
            self._indexes(meta)
        state = self.header + b"".join(bytes((r.type,)) + r.raw for r in self.records)
        meta = self._finish_meta(meta, len(state))
        meta_json = go_json(meta)
        archive = archive_bytes(meta_json, state, self.mtime)
        assert SUMS_ORDER == ("meta.json", "state.bin")
        return Built(archive, meta, meta_json, state, self.records, self.mtime)

    def _list(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        return value

    def _flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def _load_base(self, ref: Any) -> None:
        from .stream.reader import scan

        if not isinstance(ref, (str, os.PathLike)):
            raise self.fail("from", "must be a path to a snapshot archive")
        path = Path(ref)
        if not path.is_absolute():
            path = self.root / path
        self.base_path = path
        if not path.is_file():
            raise self.fail("from", f"{path}: no such snapshot file")
        events: list[Any] = []
        result = scan(path, on_record=events.append, keep_raw=True)
        state = result.state
        if not result.tar_complete or state is None or not state.complete or not result.meta_parts:
            bad = next((f for f in result.findings if f.severity in ("reject", "restore")), None)
            why = f"{bad.code}: {bad.message}" if bad else "no complete meta.json and state.bin"
            raise self.fail("from", f"{path}: cannot use it as a base ({why})")
        try:
            self.base_meta = SnapshotMeta.parse(result.meta_raw)
        except ValueError as exc:
            raise self.fail("from", f"{path}: meta.json: {exc}") from None
        self.header = state.header or b"\x80"
        self.records = [Record(e.type, bytes(e.raw), "base") for e in events]

    # -- entries ---------------------------------------------------------------

    def _entry_type(self, entry: Any, where: str, *, extra: tuple[str, ...] = ()) -> tuple[RecordType | int, Any, dict[str, Any]]:
        """Split ``{Type: body, ...extra}`` or ``{type: T, body|raw: ...}``."""
        if not isinstance(entry, dict) or not entry:
            raise self.fail(where, "must be a mapping such as {Job: {...}} or {type: Job, body: {...}}")
        rest = {k: v for k, v in entry.items() if k in extra}
        if "type" in entry:
            allowed = {"type", "body", "raw", *extra}
            bad = [k for k in entry if k not in allowed]
            if bad:
                raise self.fail(where, f"unknown key {bad[0]!r} (expected: {', '.join(sorted(allowed))})")
            rtype = self._resolve_type(entry["type"], where)
            if "raw" in entry and "body" in entry:
                raise self.fail(where, "give body or raw, not both")
            if "raw" in entry:
                return rtype, _RawBody(self._raw(entry["raw"], where + ".raw")), rest
            return rtype, entry.get("body"), rest
        keys = [k for k in entry if k not in extra]
        if len(keys) != 1:
            raise self.fail(where, f"must name one record type, found {len(keys)} keys: {', '.join(map(str, keys))}")
        rtype = self._resolve_type(keys[0], where)
        return rtype, entry[keys[0]], rest

    def _resolve_type(self, value: Any, where: str) -> RecordType | int:
        if isinstance(value, bool):
            raise self.fail(where, f"not a record type: {value!r}")
        if isinstance(value, int):
            if not 0 <= value <= 255:
                raise self.fail(where, f"record type {value} is not a byte")
            return by_number(value) or value
        if isinstance(value, str):
            rt = _BY_NAME.get(value.lower())
            if rt is not None:
                return rt
            if value.isdigit():
                return self._resolve_type(int(value), where)
            names = ", ".join(r.name for r in REGISTRY[:6])
            raise self.fail(where, f"unknown record type {value!r} (registry names such as {names}, ... or a number)")
        raise self.fail(where, f"not a record type: {value!r}")

    def _raw(self, value: Any, where: str) -> bytes:
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        elif isinstance(value, str):
            try:
                data = base64.b64decode(value.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise self.fail(where, "is not base64 text") from None
        else:
            raise self.fail(where, "must be base64 text of one msgpack value")
        try:
            codec.decode(data)
        except codec.CodecError as exc:
            raise self.fail(where, f"is not one msgpack value ({exc})") from None
        return data

    def _encode(self, rtype: RecordType | int, body: Any, where: str) -> bytes:
        if isinstance(body, _RawBody):
            return body.data
        if not isinstance(body, dict):
            raise self.fail(where, f"the record body must be a mapping, not {_kind(body)}")
        tname = rtype.name if isinstance(rtype, RecordType) else ""
        try:
            return codec.encode(codec.typed(body, tname))
        except codec.ManifestValueError as exc:
            raise self.fail(where + (f": {exc.path}" if exc.path else ""), exc.detail) from None
        except codec.CodecError as exc:
            raise self.fail(where, str(exc)) from None

    @staticmethod
    def _number(rtype: RecordType | int) -> int:
        return rtype.number if isinstance(rtype, RecordType) else rtype

    def _matches(self, rec: Record, number: int, fields: dict[str, Any], tname: str) -> bool:
        if rec.type != number:
            return False
        value = _safe_value(rec)
        if not isinstance(value, dict):
            return not fields
        for k, want in fields.items():
            if k not in value:
                return False
            if codec.plain(value[k], tname, (k,)) != want and codec.plain(value[k]) != want:
                return False
        return True

    def _remove(self, entries: list[Any]) -> None:
        for i, entry in enumerate(entries):
            where = f"remove[{i}]"
            rtype, fields, _ = self._entry_type(entry, where)
            if fields is None:
                fields = {}
            if not isinstance(fields, dict):
                raise self.fail(where, "give the fields to match as a mapping, e.g. {Namespace: default, ID: web}")
            number = self._number(rtype)
            tname = rtype.name if isinstance(rtype, RecordType) else ""
            keep = [r for r in self.records if not self._matches(r, number, fields, tname)]
            if len(keep) == len(self.records):
                raise self.fail(where, f"no {_tname(rtype)} record matches {json.dumps(fields, default=str)}")
            self.records = keep

    def _patch(self, entries: list[Any]) -> None:
        for i, entry in enumerate(entries):
            where = f"patch[{i}]"
            rtype, fields, rest = self._entry_type(entry, where, extra=("set",))
            if fields is None:
                fields = {}
            if not isinstance(fields, dict):
                raise self.fail(where, "give the fields to match as a mapping")
            changes = rest.get("set")
            if not isinstance(changes, dict) or not changes:
                raise self.fail(where + ".set", "give the fields to change as a non-empty mapping")
            number = self._number(rtype)
            tname = rtype.name if isinstance(rtype, RecordType) else ""
            hits = 0
            for j, rec in enumerate(self.records):
                if not self._matches(rec, number, fields, tname):
                    continue
                value = rec.value
                if not isinstance(value, dict):
                    raise self.fail(where, f"the matching {_tname(rtype)} record is not a map")
                try:
                    merged = _merge(value, codec.typed(changes, tname))
                    raw = codec.encode(merged)
                except codec.ManifestValueError as exc:
                    raise self.fail(where + ".set" + (f": {exc.path}" if exc.path else ""), exc.detail) from None
                self.records[j] = Record(number, raw, "patched")
                hits += 1
            if not hits:
                raise self.fail(where, f"no {_tname(rtype)} record matches {json.dumps(fields, default=str)}")

    def _add(self, entries: list[Any]) -> bool:
        listed_index = False
        for i, entry in enumerate(entries):
            rtype, body, _ = self._entry_type(entry, f"records[{i}]")
            where = f"records[{i}] ({_tname(rtype)})"
            if body is None:
                body = {}
            raw = self._encode(rtype, body, where)
            number = self._number(rtype)
            listed_index |= number == 2
            rec = Record(number, raw, "manifest")
            self._place(rec, rtype, where)
        return listed_index

    def _place(self, rec: Record, rtype: RecordType | int, where: str) -> None:
        if isinstance(rtype, RecordType):
            key = _key_of(rec, rtype)
            for j, old in enumerate(self.records):
                if old.type != rec.type:
                    continue
                if key is _NO_KEY or _key_of(old, rtype) == key:
                    self.records[j] = rec
                    return
        _insert(self.records, rec)

    # -- derived and index records -------------------------------------------

    def _derive(self) -> None:
        summaries = set()
        versions = set()
        for r in self.records:
            v = _safe_value(r)
            if not isinstance(v, dict):
                continue
            if r.type == 7:
                summaries.add((_s(v.get("Namespace")), _s(v.get("JobID"))))
            elif r.type == 9:
                versions.add((_s(v.get("Namespace")), _s(v.get("ID")), _i(v.get("Version"))))
        for r in list(self.records):
            if r.type != 1:
                continue
            job = _safe_value(r)
            if not isinstance(job, dict):
                continue
            ns, jid = _s(job.get("Namespace")), _s(job.get("ID"))
            if (ns, jid) not in summaries:
                summaries.add((ns, jid))
                _insert(self.records, Record(7, codec.encode(_job_summary(job)), "derived"))
            ver = (ns, jid, _i(job.get("Version")))
            if ver not in versions:
                versions.add(ver)
                _insert(self.records, Record(9, r.raw, "derived"))

    def _meta_defaults(self) -> dict[str, Any]:
        meta = _meta_from(self.base_meta)
        given = self.data.get("meta") or {}
        if not isinstance(given, dict):
            raise self.fail("meta", "must be a mapping")
        for k, v in given.items():
            name = _META_KEYS.get(str(k).replace("_", "").lower())
            if name is None:
                raise self.fail(f"meta.{k}", f"unknown meta field (expected: {', '.join(_META_KEYS.values())})")
            meta[name] = self._meta_value(name, v)
            meta.setdefault("_given", set()).add(name)
        highest = max([_highest_index(r) for r in self.records] + [1])
        given_names = meta.get("_given", set())
        if "Index" not in given_names:
            meta["Index"] = max(meta.get("Index") or 0, highest)
        elif meta["Index"] < highest:
            raise self.fail("meta.Index", f"{meta['Index']} is below the highest index in the records ({highest})")
        meta.setdefault("Term", 1)
        meta.setdefault("Version", 1)
        meta.setdefault("ConfigurationIndex", 1)
        if "Servers" not in meta:
            meta["Servers"] = [Server(0, DEFAULT_ADDRESS, DEFAULT_ADDRESS)]
        return meta

    def _meta_value(self, name: str, v: Any) -> Any:
        where = f"meta.{name}"
        if name in ("Index", "Term", "ConfigurationIndex", "Version"):
            lo, hi = (-(1 << 63), (1 << 63) - 1) if name == "Version" else (0, (1 << 64) - 1)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise self.fail(where, f"must be an integer from {lo} to {hi}, not {v!r}")
            return v
        if name == "ID":
            if not isinstance(v, str):
                raise self.fail(where, f"must be a string, not {_kind(v)}")
            return v
        if v is None:
            return None
        if not isinstance(v, list):
            raise self.fail(where, "must be a list of {ID, Address, Suffrage}")
        servers = []
        for i, s in enumerate(v):
            w = f"{where}[{i}]"
            if not isinstance(s, dict):
                raise self.fail(w, "must be a mapping {ID, Address, Suffrage}")
            bad = [k for k in s if k not in ("ID", "Address", "Suffrage")]
            if bad:
                raise self.fail(w, f"unknown key {bad[0]!r} (expected ID, Address, Suffrage)")
            address = s.get("Address", DEFAULT_ADDRESS)
            sid = s.get("ID", address)
            suffrage = s.get("Suffrage", 0)
            if not isinstance(address, str) or not isinstance(sid, str):
                raise self.fail(w, "ID and Address must be strings")
            if isinstance(suffrage, bool) or suffrage not in (0, 1, 2):
                raise self.fail(w + ".Suffrage", "must be 0 (Voter), 1 (Nonvoter) or 2 (Staging)")
            servers.append(Server(suffrage, sid, address))
        return servers

    def _indexes(self, meta: dict[str, Any]) -> None:
        want: dict[str, int] = {}
        for r in self.records:
            rt = by_number(r.type)
            table = INDEX_TABLES.get(rt.name) if rt else None
            if table is None:
                continue
            value = _highest_index(r) or meta["Index"]
            want[table] = max(want.get(table, 0), value)
        have: dict[str, int] = {}
        for j, r in enumerate(self.records):
            if r.type != 2:
                continue
            v = _safe_value(r)
            if not isinstance(v, dict) or not isinstance(v.get("Key"), str):
                continue
            key = v["Key"]
            have[key] = j
            new = want.get(key)
            old = v.get("Value")
            if new is not None and (not isinstance(old, int) or old < new):
                v2 = dict(v)
                v2["Value"] = codec.Uint(new)
                self.records[j] = Record(2, codec.encode(v2), "index")
        for key in sorted(k for k in want if k not in have):
            body = {"Key": key, "Value": codec.Uint(want[key])}
            _insert(self.records, Record(2, codec.encode(body), "index"), sort_key=key)

    def _finish_meta(self, meta: dict[str, Any], size: int) -> SnapshotMeta:
        given = meta.pop("_given", set())
        base = self.base_meta
        if "ID" not in given:
            same = base is not None and base.Index == meta["Index"] and base.Term == meta["Term"] and base.ID
            meta["ID"] = base.ID if same else f"{meta['Term']}-{meta['Index']}-{self.mtime * 1000}"
        servers = meta["Servers"]
        voters = [s.Address for s in servers or [] if s.Suffrage == 0]
        peers = codec.encode(voters if voters else None)
        return SnapshotMeta(
            Version=meta["Version"],
            ID=meta["ID"],
            Index=meta["Index"],
            Term=meta["Term"],
            Peers=peers,
            Servers=servers,
            ConfigurationIndex=meta["ConfigurationIndex"],
            Size=size,
        )


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self.data = data


_NO_KEY = object()


def _key_of(rec: Record, rtype: RecordType) -> Any:
    if not rtype.key:
        return _NO_KEY
    value = _safe_value(rec)
    if not isinstance(value, dict):
        return None
    return tuple(json.dumps(codec.plain(value.get(k)), sort_keys=True) for k in rtype.key)


def _safe_value(rec: Record) -> Any:
    try:
        return rec.value
    except codec.CodecError:
        return None


def _insert(records: list[Record], rec: Record, sort_key: str | None = None) -> None:
    """After the last record of the same type (for Index records given a
    ``sort_key``: before the first with a greater Key), else at the type's
    place in Persist order."""
    same = [j for j, r in enumerate(records) if r.type == rec.type]
    if same:
        if sort_key is not None:
            for j in same:
                v = _safe_value(records[j])
                if isinstance(v, dict) and isinstance(v.get("Key"), str) and v["Key"] > sort_key:
                    records.insert(j, rec)
                    return
        records.insert(same[-1] + 1, rec)
        return
    rank = _RANK.get(rec.type, len(_RANK))
    for j, r in enumerate(records):
        if _RANK.get(r.type, len(_RANK)) > rank:
            records.insert(j, rec)
            return
    records.append(rec)


def _highest_index(rec: Record) -> int:
    value = _safe_value(rec)
    if not isinstance(value, dict):
        return 0
    best = 0
    for k, v in value.items():
        if isinstance(k, str) and (k.endswith("Index") or (rec.type == 2 and k == "Value")):
            if isinstance(v, int) and not isinstance(v, bool) and v > best:
                best = int(v)
    return best


def _job_summary(job: dict[str, Any]) -> dict[str, Any]:
    groups = job.get("TaskGroups") or []
    summary = {}
    for tg in groups:
        if isinstance(tg, dict) and isinstance(tg.get("Name"), str):
            summary[tg["Name"]] = {
                "Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0,
            }
    return {
        "JobID": job.get("ID", ""),
        "Namespace": job.get("Namespace", ""),
        "Summary": summary,
        "Children": {"Pending": 0, "Running": 0, "Dead": 0},
        "CreateIndex": codec.Uint(_i(job.get("CreateIndex"))),
        "ModifyIndex": codec.Uint(_i(job.get("ModifyIndex"))),
    }


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict) and not isinstance(old, codec.Pairs):
        out = type(old)(old) if not isinstance(old, codec.Map) else codec.Map(old, old.code)
        for k, v in new.items():
            out[k] = _merge(old[k], v) if k in old else v
        return out
    return new


def _meta_from(base: SnapshotMeta | None) -> dict[str, Any]:
    if base is None:
        return {}
    return {
        "Index": base.Index,
        "Term": base.Term,
        "Version": base.Version,
        "ConfigurationIndex": base.ConfigurationIndex,
        "Servers": base.Servers,
    }


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _i(v: Any) -> int:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else 0


def _kind(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "null"}.get(type(v), type(v).__name__)


def _tname(rtype: RecordType | int) -> str:
    return rtype.name if isinstance(rtype, RecordType) else f"type {rtype}"
