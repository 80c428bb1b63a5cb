"""Records of a built state.bin: the types' tables and Persist order, where a
new record goes, and the archive that results (:class:`Built`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import codec
from ..format.records import RecordType, by_number
from ..meta import SnapshotMeta
from .output import _write


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


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _i(v: Any) -> int:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else 0


def _kind(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "null"}.get(type(v), type(v).__name__)


def _tname(rtype: RecordType | int) -> str:
    return rtype.name if isinstance(rtype, RecordType) else f"type {rtype}"


def _place_all(
    records: list[Record], placed: list[tuple[Record, RecordType | int]]
) -> list[Record]:
    """Place manifest records as placing them one by one would: a record
    replaces the first of its type with the same natural key (for keyless
    types: the first of its type), earlier manifest records included; the
    rest go after the last record of their type, or at their type's place in
    Persist order. One pass over the list (placing one by one was quadratic).
    """
    keyed = {rec.type: rtype for rec, rtype in placed if isinstance(rtype, RecordType)}
    first: dict[tuple[int, Any], int] = {}  # (type, key) -> position in records
    first_of_type: dict[int, int] = {}
    last_of_type: dict[int, int] = {}
    for j, old in enumerate(records):
        first_of_type.setdefault(old.type, j)
        last_of_type[old.type] = j
        rtype = keyed.get(old.type)
        if rtype is not None and rtype.key:
            first.setdefault((old.type, _key_of(old, rtype)), j)
    out = list(records)
    pending: dict[int, list[Record]] = {}
    pending_at: dict[tuple[int, Any], int] = {}  # (type, key) -> index in pending[type]
    for rec, rtype in placed:
        group = pending.setdefault(rec.type, [])
        if not isinstance(rtype, RecordType):
            group.append(rec)
            continue
        ident = (rec.type, _key_of(rec, rtype) if rtype.key else _NO_KEY)
        if rtype.key and ident in first:
            out[first[ident]] = rec
        elif not rtype.key and rec.type in first_of_type:
            out[first_of_type[rec.type]] = rec
        elif ident in pending_at:
            group[pending_at[ident]] = rec
        else:
            pending_at[ident] = len(group)
            group.append(rec)
    pending = {t: g for t, g in pending.items() if g}
    if not pending:
        return out
    unseen = len(_RANK)
    new_types = sorted((t for t in pending if t not in last_of_type), key=lambda t: _RANK.get(t, unseen))
    result: list[Record] = []
    for j, rec in enumerate(out):
        rank = _RANK.get(rec.type, unseen)
        while new_types and _RANK.get(new_types[0], unseen) < rank:
            result.extend(pending[new_types.pop(0)])
        result.append(rec)
        if last_of_type.get(rec.type) == j and rec.type in pending:
            result.extend(pending[rec.type])
    for t in new_types:
        result.extend(pending[t])
    return result
