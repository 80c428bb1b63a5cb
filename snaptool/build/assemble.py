"""Assembling the records and metadata a manifest describes (see the order of
work in :mod:`snaptool.build`), and :func:`build`, which runs it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from .. import codec
from ..errors import SnaptoolError
from ..format.records import REGISTRY, RecordType, by_number
from ..meta import Server, SnapshotMeta, go_json
from ..stream.writer import SUMS_ORDER, archive_bytes
from .manifest import (
    DEFAULT_ADDRESS,
    ManifestError,
    _BY_NAME,
    _META_KEYS,
    _TOP_KEYS,
    load_manifest,
)
from .output import _write, default_mtime
from .records import (
    Built,
    INDEX_TABLES,
    Record,
    _RawBody,
    _highest_index,
    _i,
    _insert,
    _job_summary,
    _kind,
    _merge,
    _place_all,
    _s,
    _safe_value,
    _tname,
)


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
        from ..stream.reader import scan

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
        placed: list[tuple[Record, RecordType | int]] = []
        for i, entry in enumerate(entries):
            rtype, body, _ = self._entry_type(entry, f"records[{i}]")
            where = f"records[{i}] ({_tname(rtype)})"
            if body is None:
                body = {}
            raw = self._encode(rtype, body, where)
            number = self._number(rtype)
            listed_index |= number == 2
            placed.append((Record(number, raw, "manifest"), rtype))
        self.records = _place_all(self.records, placed)
        return listed_index

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
        derived: list[tuple[Record, RecordType | int]] = []
        for r in self.records:
            if r.type != 1:
                continue
            job = _safe_value(r)
            if not isinstance(job, dict):
                continue
            ns, jid = _s(job.get("Namespace")), _s(job.get("ID"))
            if (ns, jid) not in summaries:
                summaries.add((ns, jid))
                derived.append((Record(7, codec.encode(_job_summary(job)), "derived"), 7))
            ver = (ns, jid, _i(job.get("Version")))
            if ver not in versions:
                versions.add(ver)
                derived.append((Record(9, r.raw, "derived"), 9))
        # inserted, never replacing: plain type numbers to _place_all
        self.records = _place_all(self.records, derived)

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
