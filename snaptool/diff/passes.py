"""The comparison itself: pass 1 over A and B (B in a background process),
pass 2 over both, and the report (see the strategy in :mod:`snaptool.diff`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ..checks import Target, check
from ..errors import InputError, UsageError
from ..findings import Finding
from ..format.records import record_name
from ..meta import MetaError, SnapshotMeta
from ..stream.reader import ArchiveScan, Limits, scan
from ..stream.split import Background
from ..stream.statewalk import RecordEvent
from ..values import decode
from .fields import diff_values
from .keys import DIGEST_SIZE, _digest, _key_hash, _Scope, secrets_for
from .report import DiffReport, MetaChange, ObjectChange, Side, TypeDelta, _servers


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

#: In the digests of B: a record of a type outside the scope.
_OUT_OF_SCOPE = bytes(DIGEST_SIZE)


def _digests(path: str, scope: _Scope, limits: Limits) -> tuple[ArchiveScan, bytes]:
    """Pass 1 over B: its scan, and the digest of each record in order
    (:data:`_OUT_OF_SCOPE` for those outside ``scope``)."""
    out = bytearray()

    def see(ev: RecordEvent) -> None:
        out.extend(_digest(ev.type, ev.raw or b"") if scope.wants_type(ev.type) else _OUT_OF_SCOPE)

    return _read(path, see, limits), bytes(out)


def _read(
    path: str, on_record: Callable[[RecordEvent], None], limits: Limits, skip: bytes | bytearray = b""
) -> ArchiveScan:
    result = scan(path, on_record=on_record, keep_raw=True, limits=limits, skip_records=skip)
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
    if pa == pb == "-":
        raise UsageError("standard input can be only one of the two archives")
    scope = _Scope(types, tuple(namespaces), tuple(ids))

    # pass 1, B, in a background process while A is read here: the digest of
    # each record in scope (all of B's records, in order).
    job = Background(lambda: _digests(pb, scope, limits))
    try:
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
        scan_b, digests_b = job.result()
    finally:
        job.close()
    side_a = _side(pa, scan_a)
    side_b = _side(pb, scan_b)

    # A record of B with a byte-identical twin in A is unchanged (the twin is
    # marked in a bitmap by A's record number); the others, usually few, are
    # keyed (one more read of B, handing out only them) and kept: changed or
    # added, as pass 2 will tell.
    matched = bytearray(scan_a.state.records if scan_a.state else 0)
    for ia in twins:
        matched[ia] = 1
    records_b = scan_b.state.records if scan_b.state else 0
    skip_b = bytearray(b"\x01") * records_b
    for ib, at in enumerate(range(0, len(digests_b), DIGEST_SIZE)):
        d = digests_b[at : at + DIGEST_SIZE]
        if d == _OUT_OF_SCOPE:
            continue
        ia = seen_a.get(d)
        if ia is None:
            skip_b[ib] = 0
        else:
            matched[ia] = 1
    seen_a.clear()
    unmatched_b: dict[bytes, tuple[int, int, int, dict[str, Any]]] = {}

    def key_b(ev: RecordEvent) -> None:
        key = scope.key_of(ev.type, ev.raw or b"", ev.ordinal)
        if key is not None:
            unmatched_b[_key_hash(ev.type, key)] = (ev.index, ev.type, ev.size, key)

    if not all(skip_b):
        _same_file(pb, _read(pb, key_b, limits, skip_b), scan_b.hashes.get("state.bin"))

    objects = _Pass2(scope, matched, unmatched_b, fields, max_pending).run(
        pa, pb, limits, scan_a.hashes.get("state.bin"), scan_b.hashes.get("state.bin"),
        scan_b.state.records if scan_b.state else 0,
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

    def on_a(self, ev: RecordEvent) -> None:
        if not self.scope.wants_type(ev.type) or self.matched[ev.index]:
            return
        raw = ev.raw or b""
        if self.todo is None:
            key = self.scope.key_of(ev.type, raw, ev.ordinal)
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
        changes = diff_values(decode(raw_a), decode(ev.raw or b""), secrets_for(number))
        if changes:
            self.out.append(
                ObjectChange("changed", number, key, size_a, ev.size, changes if self.fields else [])
            )

    def run(
        self, pa: str, pb: str, limits: Limits, hash_a: str | None, hash_b: str | None, records_b: int
    ) -> list[ObjectChange]:
        """Read A and B again, as often as the budget needs; each read hands
        out only the records it is about (``skip_records``): a few, mostly."""
        if all(self.matched) and not self.unmatched_b:
            return self.out
        while self.todo is None or self.todo:
            self._reset()
            _same_file(pa, _read(pa, self.on_a, limits, self._skip_a()), hash_a)
            self.after_a()
            if self.pending:
                skip_b = bytearray(b"\x01") * records_b
                for ib in self.pending:
                    if ib < records_b:
                        skip_b[ib] = 0
                _same_file(pb, _read(pb, self.on_b, limits, skip_b), hash_b)
        return self.out

    def _skip_a(self) -> bytes | bytearray:
        """A's records this round is not about: the matched ones, and in a
        later round all but those left over (``todo``)."""
        if self.todo is None:
            return self.matched
        skip = bytearray(b"\x01") * len(self.matched)
        for ia in self.todo:
            skip[ia] = 0
        return skip


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
