"""The commands as library functions: each reads once and returns a value.

Nothing here prints; :mod:`snaptool.cli` renders the values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .checks import Target, check, verdict_ok
from .findings import Finding
from .format.records import by_number, record_name
from .meta import SnapshotMeta
from .errors import UsageError
from .stream.reader import ArchiveScan, Limits, Progress, scan
from .stream.statewalk import OnRecord, RecordEvent

__all__ = [
    "InspectReport",
    "TypeRow",
    "VerifyReport",
    "created_local",
    "iec_bytes",
    "inspect",
    "read_input",
    "verify",
]


@dataclass(frozen=True)
class TypeRow:
    """One row of inspect's per-type table."""

    number: int
    name: str
    count: int
    sum: int
    edition: str


@dataclass
class VerifyReport:
    path: str
    target: Target
    findings: list[Finding]
    meta: SnapshotMeta | None
    scan: ArchiveScan = field(repr=False)
    #: the input form read: snap, tar, dir or state (see ``read_input``)
    form: str = "snap"

    @property
    def ok(self) -> bool:
        """Nomad would restore this archive (warnings allowed)."""
        return verdict_ok(self.findings)

    @property
    def strict_ok(self) -> bool:
        return verdict_ok(self.findings, strict=True)

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        return {
            "file": self.path,
            "form": self.form,
            "ok": self.ok,
            "strict_ok": self.strict_ok,
            "target": {"version": ".".join(map(str, self.target.version)), "edition": self.target.edition},
            "counts": counts,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class InspectReport:
    path: str
    meta: SnapshotMeta | None
    rows: list[TypeRow]
    verify: VerifyReport

    @property
    def written_by(self) -> tuple[str, str] | None:
        """The range of Nomad versions that could have written this state."""
        from .format.records import version_text, writer_range

        if not self.rows:
            return None
        span = writer_range({r.number for r in self.rows})
        return (version_text(span[0]), version_text(span[1])) if span else None

    @property
    def total_count(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def total_size(self) -> int:
        return sum(r.sum for r in self.rows)

    def to_nomad_json(self) -> dict[str, Any]:
        """The object ``nomad operator snapshot inspect -json`` prints."""
        return {
            "Meta": self.meta.to_nomad_json() if self.meta is not None else None,
            "Stats": [{"Count": r.count, "Name": r.name, "Sum": r.sum} for r in self.rows],
        }

    def to_dict(self) -> dict[str, Any]:
        """Nomad's ``Meta`` and ``Stats``, and snaptool's additions beside them."""
        out = self.to_nomad_json()
        created = self.meta.created if self.meta else None
        scan_ = self.verify.scan
        out["Created"] = created.isoformat().replace("+00:00", "Z") if created else None
        out["Servers"] = (
            [
                {"ID": s.ID, "Address": s.Address, "Suffrage": s.suffrage_name}
                for s in (self.meta.Servers or [])
            ]
            if self.meta
            else []
        )
        out["Types"] = [
            {"Type": r.number, "Name": r.name, "Count": r.count, "Sum": r.sum, "Edition": r.edition}
            for r in self.rows
        ]
        span = self.written_by
        out["WrittenBy"] = {"Min": span[0], "Max": span[1]} if span else None
        out["TotalCount"] = self.total_count
        out["TotalSize"] = self.total_size
        out["Archive"] = {
            "File": self.path,
            "CompressedSize": scan_.compressed_size,
            "TarSize": scan_.decompressed_size,
            "StateSize": scan_.state.length if scan_.state else None,
            "Entries": [e.name for e in scan_.entries],
        }
        out["Verify"] = self.verify.to_dict()
        return out


def read_input(
    path: str | os.PathLike[str],
    *,
    form: str = "auto",
    limits: Limits = Limits(),
    on_record: OnRecord | None = None,
    keep_raw: bool = False,
    record_types: frozenset[int] | None = None,
    decode_types: frozenset[int] = frozenset(),
    progress: Progress | None = None,
) -> ArchiveScan:
    """One pass over an input of any form: ``snap`` (the gzipped archive),
    ``tar`` (the archive without gzip), ``dir`` (a raft snapshot directory),
    ``state`` (a bare state.bin); ``auto`` reads a directory as ``dir`` and
    anything else as ``snap``."""
    from .stream.forms import scan_directory, scan_state_file

    name = os.fspath(path)
    if form == "auto":
        form = "dir" if os.path.isdir(name) else "snap"
    kw = dict(
        limits=limits,
        on_record=on_record,
        keep_raw=keep_raw,
        record_types=record_types,
        decode_types=decode_types,
    )
    if form == "dir":
        return scan_directory(name, **kw)  # type: ignore[arg-type]
    if form == "state":
        return scan_state_file(name, **kw)  # type: ignore[arg-type]
    if form not in ("snap", "tar"):
        raise UsageError(f"unknown input form {form!r}")
    return scan(name, plain_tar=form == "tar", progress=progress, **kw)  # type: ignore[arg-type]


class _KeyMaterial:
    """Notes about the keyring: cleartext root keys (WrappedRootKeys with a
    KeyEncryptionKey, as the AEAD provider stores them, Nomad 1.9+), or key
    metadata without any key material (1.4 to 1.8: the keyring lives outside
    the snapshot, nomad#16640)."""

    TYPES = frozenset({24, 30})

    def __init__(self) -> None:
        self.cleartext: list[tuple[int, int, str]] = []
        self.wrapped = 0

    def see(self, event: RecordEvent) -> None:
        value = event.value
        if event.type != 30 or not isinstance(value, dict):
            return
        self.wrapped += 1
        keys = value.get(b"WrappedKeys")
        for wrapped in keys if isinstance(keys, (list, tuple)) else ():
            if isinstance(wrapped, dict) and wrapped.get(b"KeyEncryptionKey"):
                key_id = value.get(b"KeyID", b"?")
                text = key_id.decode("utf-8", "replace") if isinstance(key_id, bytes) else str(key_id)
                self.cleartext.append((event.index, event.offset, text))
                break

    def report(self, result: ArchiveScan) -> None:
        if self.cleartext:
            index, offset, _ = self.cleartext[0]
            ids = ", ".join(k for _, _, k in self.cleartext[:3])
            result.report(
                Finding(
                    "content.key-material",
                    f"{len(self.cleartext)} root key(s) ({ids}) hold cleartext key "
                    "material: treat this file as a secret, or redact it before sharing",
                    member="state.bin",
                    offset=offset,
                    record=index,
                )
            )
        state = result.state
        if state is not None and 24 in state.types and 30 not in state.types:
            first = state.types[24]
            result.report(
                Finding(
                    "content.no-keyring",
                    "root key metadata (RootKeyMeta) but no key material: restoring into "
                    "a new cluster also needs the source cluster's keystore "
                    "(data_dir/server/keystore) or encrypted variables become unreadable",
                    member="state.bin",
                    offset=first.first_offset,
                    record=first.first_index,
                )
            )


class _SchemaCheck:
    """Each record against Nomad's Go types and state-store indexes (see
    :mod:`snaptool.schema`): what the typed FSM restore would fail on."""

    MAX_FINDINGS = 20

    def __init__(self) -> None:
        from .schema import load_schema

        self.schema = load_schema()
        self.types = self.schema.numbers if self.schema is not None else frozenset()
        self.findings: list[Finding] = []
        self.bad_records = 0

    def see(self, event: RecordEvent) -> None:
        assert self.schema is not None
        problems = self.schema.check(event.type, event.value)
        if not problems:
            return
        self.bad_records += 1
        if len(self.findings) >= self.MAX_FINDINGS:
            return
        first = problems[0]
        where = f" at {first.path}" if first.path else ""
        self.findings.append(
            Finding(
                "state.schema",
                f"record {event.index} ({record_name(event.type)}): {first.message}{where} "
                f"(checked against Nomad {self.schema.version}'s types)",
                member="state.bin",
                offset=event.offset,
                record=event.index,
            )
        )

    def report(self, result: ArchiveScan) -> None:
        if self.schema is None:
            result.report(
                Finding(
                    "state.schema-unavailable",
                    "the bundled description of Nomad's types is missing: records "
                    "were framed but not checked against Nomad's types",
                    member="state.bin",
                )
            )
            return
        result.findings.extend(self.findings)
        extra = self.bad_records - len(self.findings)
        if extra > 0:
            result.report(
                Finding(
                    "state.schema",
                    f"{extra} more records fail the same checks",
                    member="state.bin",
                )
            )


def verify(
    path: str | os.PathLike[str],
    *,
    plain_tar: bool = False,
    form: str = "auto",
    target: Target = Target(),
    limits: Limits = Limits(),
    schema: bool = False,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check an archive against Nomad's reader, its restore, and strict lint.

    By default records are framed (type byte, complete well-formed msgpack,
    a type the target restores) but not decoded. With ``schema`` every record
    is also decoded and checked against Nomad's Go types and state-store
    indexes, as the typed restore does: about ten times slower, and what
    ``restore`` and ``save`` use before they touch a server."""
    keys = _KeyMaterial()
    typed = _SchemaCheck() if schema else None
    wanted = keys.TYPES | (typed.types if typed else frozenset())

    def see(event: RecordEvent) -> None:
        if event.type in keys.TYPES:
            keys.see(event)
        if typed is not None and event.type in typed.types:
            typed.see(event)

    result = read_input(
        path,
        form="tar" if plain_tar else form,
        limits=limits,
        on_record=see,
        record_types=wanted,
        decode_types=wanted,
        progress=progress,
    )
    meta = check(result, target)
    if typed is not None and result.tar_complete:
        typed.report(result)
    keys.report(result)
    return VerifyReport(os.fspath(path), target, result.findings, meta, result, result.form)


def inspect(
    path: str | os.PathLike[str],
    *,
    plain_tar: bool = False,
    form: str = "auto",
    target: Target = Target(),
    limits: Limits = Limits(),
    schema: bool = False,
    progress: Progress | None = None,
) -> InspectReport:
    """Metadata and per-type counts and sizes, as Nomad's inspect reports them."""
    report = verify(
        path,
        plain_tar=plain_tar,
        form=form,
        target=target,
        limits=limits,
        schema=schema,
        progress=progress,
    )
    rows: list[TypeRow] = []
    state = report.scan.state
    if state is not None:
        for number, stats in state.types.items():
            rt = by_number(number)
            rows.append(
                TypeRow(number, record_name(number), stats.count, stats.sum, rt.edition if rt else "unknown")
            )
    # Nomad sorts by size, largest first, then by name.
    rows.sort(key=lambda r: (-r.sum, r.name))
    return InspectReport(os.fspath(path), report.meta, rows, report)


def iec_bytes(n: int) -> str:
    """go-humanize ``IBytes``: ``512 B``, ``1.9 KiB``, ``158 KiB``."""
    import math

    if n < 10:
        return f"{n} B"
    sizes = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    e = math.floor(math.log(n) / math.log(1024))
    val = math.floor(n / 1024**e * 10 + 0.5) / 10
    return (f"{val:.0f} {sizes[e]}" if val >= 10 else f"{val:.1f} {sizes[e]}")


def created_local(meta: SnapshotMeta) -> str:
    """inspect's ``Created`` row: RFC 3339 in local time, or ``<none>``."""
    created = meta.created
    if created is None:
        return "<none>"
    local = created.astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    offset = text[-5:]
    return text[:-5] + ("Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}")

