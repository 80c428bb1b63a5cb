"""Whole-archive rules, applied to an :class:`~snaptool.stream.reader.ArchiveScan`.

Each rule mirrors one Nomad behaviour (named above it) and adds findings; none
prints or raises. The stream layers have already reported gzip, tar and
record-framing problems while reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from .findings import FAILING, Finding
from .format.records import LATEST_NOMAD, Version, by_number, record_name
from .format.sums import MAX_LINE, SumsScanError, scan_line, split_lines
from .format.tar import go_header
from .meta import MetaError, SnapshotMeta, go_json
from .stream.reader import MEMBERS, ArchiveScan
from .stream.statewalk import TypeStats

__all__ = ["Target", "check", "verdict_ok"]

#: sha256 of no data: the sum a missing entry must have to pass.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_INPUT_FATAL = frozenset({"input.empty", "input.not-gzip", "gzip.bad-header"})


@dataclass(frozen=True)
class Target:
    """The Nomad that would restore the archive."""

    version: Version = LATEST_NOMAD
    edition: str = "ce"

    def describe(self) -> str:
        return f"Nomad {'.'.join(map(str, self.version))} {self.edition.upper()}"


def verdict_ok(findings: list[Finding], strict: bool = False) -> bool:
    """True when Nomad would restore: no reject or restore findings (and, with
    ``strict``, no warnings either)."""
    failing = FAILING | {"warning"} if strict else FAILING
    return not any(f.severity in failing for f in findings)


def check(scan: ArchiveScan, target: Target = Target()) -> SnapshotMeta | None:
    """Apply every whole-archive rule; returns the decoded meta (or None)."""
    if any(f.code in _INPUT_FATAL for f in scan.findings) or (
        not scan.entries and not scan.tar_complete
    ):
        return None
    if scan.form in ("dir", "state"):
        meta = _check_meta(scan) if scan.form == "dir" else None
        _check_restore(scan, meta)
        _check_types(scan, target)
        return meta
    _check_entries(scan)
    if not scan.tar_complete:
        # Nomad's reader stopped at the damage: nothing after it is judged.
        return None
    _check_sums(scan)
    meta = _check_meta(scan)
    _check_restore(scan, meta)
    _check_types(scan, target)
    return meta


# helper/snapshot read(): any order, duplicates processed again, and Go's
# tar reader takes end of data at a header boundary as the end.
def _check_entries(scan: ArchiveScan) -> None:
    names = [e.name for e in scan.entries if e.name in MEMBERS]
    unique = list(dict.fromkeys(names))
    expected = [n for n in MEMBERS if n in unique]
    if unique != expected:
        scan.report(
            Finding(
                "tar.entry-order",
                f"entries are in the order {', '.join(unique)}; Nomad writes "
                f"{', '.join(MEMBERS)} (any order is accepted)",
                member="tar",
            )
        )
    for name in unique:
        count = names.count(name)
        if count > 1:
            scan.report(
                Finding(
                    "tar.duplicate-entry",
                    f"{name} appears {count} times; Nomad reads each again and hashes "
                    "the concatenation",
                    member=name,
                )
            )
    for name in MEMBERS:
        if name not in unique and scan.tar_complete:
            scan.report(
                Finding(
                    "tar.missing-entry",
                    f"no {name} entry",
                    member=name,
                )
            )
    for entry in scan.entries:
        if entry.name not in MEMBERS:
            continue
        try:
            expected_header = go_header(entry.name, entry.header.size, entry.header.mtime)
        except ValueError:
            expected_header = b""
        if entry.header.raw != expected_header or entry.pax or entry.longname:
            scan.report(
                Finding(
                    "tar.header-fields",
                    f"{entry.name}'s tar header is not what Go writes "
                    f"({_header_difference(entry.header.raw, expected_header)})",
                    member="tar",
                    offset=entry.offset,
                )
            )
    if scan.tar_complete and scan.end_blocks < 2 and scan.entries:
        scan.report(
            Finding(
                "tar.missing-end-blocks",
                f"the tar has {scan.end_blocks} of the 2 end-of-archive blocks "
                "(Go's reader accepts this)",
                member="tar",
            )
        )


_HEADER_FIELDS = (
    ("name", 0, 100),
    ("mode", 100, 108),
    ("uid", 108, 116),
    ("gid", 116, 124),
    ("typeflag", 156, 157),
    ("magic", 257, 263),
    ("version", 263, 265),
    ("uname", 265, 297),
    ("gname", 297, 329),
    ("devmajor", 329, 337),
    ("devminor", 337, 345),
    ("prefix", 345, 500),
)


def _header_difference(raw: bytes, expected: bytes) -> str:
    if not expected:
        return "too large for a plain USTAR header"
    fields = [name for name, lo, hi in _HEADER_FIELDS if raw[lo:hi] != expected[lo:hi]]
    return "differs in " + ", ".join(fields) if fields else "differs in number formatting"


# hashList.DecodeAndVerify: bufio.Scanner lines, fmt.Sscanf("%x  %s"), each
# named file must be meta.json or state.bin with a matching hash, and both
# must be listed.
def _check_sums(scan: ArchiveScan) -> None:
    raw = scan.sums_raw
    seen: set[str] = set()
    noncanonical: list[str] = []
    if b"\r\n" in raw:
        noncanonical.append("CRLF line ends")
    for number, (at, line) in enumerate(split_lines(raw), start=1):
        if len(line) >= MAX_LINE:
            scan.report(
                Finding(
                    "sums.line-too-long",
                    f"line {number} is {len(line)} bytes; Go's scanner stops at 64 KiB",
                    member="SHA256SUMS",
                    offset=at,
                    nomad="bufio.Scanner: token too long",
                )
            )
            return
        try:
            parsed = scan_line(line)
        except SumsScanError as exc:
            scan.report(
                Finding(
                    "sums.bad-line",
                    f"line {number} {_show(line)} cannot be read as '<hex>  <name>' ({exc})",
                    member="SHA256SUMS",
                    offset=at,
                    nomad=str(exc),
                )
            )
            continue
        if parsed.name not in scan.hashes:
            scan.report(
                Finding(
                    "sums.unknown-name",
                    f"line {number} names {parsed.name!r}, which is not meta.json or state.bin",
                    member="SHA256SUMS",
                    offset=at,
                    nomad=f"list missing hash for {_go_quote(parsed.name)}",
                )
            )
            continue
        actual = scan.hashes[parsed.name]
        if parsed.digest.hex() != actual:
            scan.report(
                Finding(
                    "sums.hash-mismatch",
                    f"{parsed.name} has SHA-256 {actual}, SHA256SUMS line {number} says "
                    f"{parsed.digest.hex() or '(nothing)'}",
                    member=parsed.name,
                    nomad=f"hash check failed for {_go_quote(parsed.name)}",
                )
            )
        if not parsed.canonical:
            noncanonical.append(f"line {number} {_show(line)}")
        if parsed.name in seen:
            noncanonical.append(f"{parsed.name} listed twice")
        seen.add(parsed.name)
    for name in ("meta.json", "state.bin"):
        if name not in seen:
            scan.report(
                Finding(
                    "sums.missing-file",
                    f"SHA256SUMS has no line for {name}"
                    + ("" if "SHA256SUMS" in scan.seen else " (there is no SHA256SUMS entry)"),
                    member="SHA256SUMS",
                    nomad=f"file missing for {_go_quote(name)}",
                )
            )
    if noncanonical:
        scan.report(
            Finding(
                "sums.noncanonical",
                "accepted, but not as Nomad writes it: " + "; ".join(noncanonical),
                member="SHA256SUMS",
            )
        )


def _show(line: bytes) -> str:
    text = line[:80].decode("utf-8", "replace")
    return repr(text + ("..." if len(line) > 80 else ""))


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# read(): io.ReadAll then json.Unmarshal into raft.SnapshotMeta, each entry
# on top of the same struct.
def _check_meta(scan: ArchiveScan) -> SnapshotMeta | None:
    if not scan.meta_parts:
        return SnapshotMeta() if "meta.json" in scan.seen or scan.tar_complete else None
    meta = SnapshotMeta()
    for part in scan.meta_parts:
        try:
            meta = SnapshotMeta.parse(part, onto=meta)
        except MetaError as exc:
            scan.report(
                Finding(
                    "meta.invalid",
                    f"meta.json cannot be decoded: {exc}",
                    member="meta.json",
                    nomad=f"failed to decode snapshot metadata: {exc}",
                )
            )
            return None
    if scan.form == "dir":
        # raft's own meta.json: the same fields plus CRC, checked by the reader
        meta.unknown_keys = [k for k in meta.unknown_keys if k.lower() != "crc"]
    notes = []
    if meta.folded_keys:
        notes.append("keys matched only case-insensitively: " + ", ".join(meta.folded_keys))
    if meta.unknown_keys:
        notes.append("unknown keys ignored: " + ", ".join(meta.unknown_keys))
    canonical_form = scan.form != "dir" and len(scan.meta_parts) == 1
    if canonical_form and not notes and scan.meta_parts[0] != go_json(meta):
        notes.append("not the compact JSON plus newline that Go's encoder writes")
    if notes:
        scan.report(
            Finding(
                "meta.noncanonical",
                "accepted, but not as Nomad writes it: " + "; ".join(notes),
                member="meta.json",
            )
        )
    return meta


# raft Restore/restoreUserSnapshot: Version must be 1 (0 fails in the file
# snapshot store), and the bytes copied must equal meta.Size.
def _check_restore(scan: ArchiveScan, meta: SnapshotMeta | None) -> None:
    if meta is None:
        return
    if meta.Version != 1:
        scan.report(
            Finding(
                "meta.version",
                f"meta Version is {meta.Version}; restore needs 1",
                member="meta.json",
                nomad=f"unsupported snapshot version {meta.Version}",
            )
        )
    length = scan.state.length if scan.state is not None else 0
    if scan.tar_complete and meta.Size != length:
        scan.report(
            Finding(
                "meta.size-mismatch",
                f"meta Size is {meta.Size} but state.bin holds {length} bytes",
                member="meta.json",
                nomad=f"failed to write snapshot, size didn't match ({length} != {meta.Size})",
            )
        )
    if "state.bin" not in scan.seen and scan.tar_complete:
        scan.report(
            Finding(
                "state.empty",
                "there is no state.bin: restore finds no snapshot header",
                member="state.bin",
                nomad="EOF",
            )
        )


# nomad/fsm.go restoreImpl: every record type must be one this Nomad restores;
# an unknown type fails the restore (and panics the leader).
def _check_types(scan: ArchiveScan, target: Target) -> None:
    state = scan.state
    if state is None:
        return
    where = target.describe()
    seen = list(state.types.items())
    if state.pending is not None and state.pending[0] not in state.types:
        # the walk stopped inside the first record of this type: judge the type too
        number, index, offset = state.pending
        seen.append((number, TypeStats(0, 0, index, offset)))
    for number, stats in sorted(seen, key=lambda kv: kv[1].first_index):
        rt = by_number(number)
        behaviour = rt.behaviour(target.version, target.edition) if rt else "error"  # type: ignore[arg-type]
        if behaviour in ("restore", "discard"):
            continue
        common = dict(member="state.bin", offset=stats.first_offset, record=stats.first_index)
        count = f"{max(stats.count, 1)} record{'s' if stats.count > 1 else ''}"
        if rt is None:
            scan.report(
                Finding(
                    "state.unknown-type",
                    f"record type {number} ({count}) is unknown to every Nomad; restore "
                    "fails there and the leader panics",
                    nomad=f"Unrecognized snapshot type: [{number}]",
                    **common,  # type: ignore[arg-type]
                )
            )
        elif rt.edition == "ent" and target.edition != "ent":
            scan.report(
                Finding(
                    "state.enterprise-type",
                    f"record type {number} {rt.name} ({count}) is Enterprise-only; "
                    f"{where} cannot restore it",
                    nomad=f"Unrecognized snapshot type: [{number}]",
                    **common,  # type: ignore[arg-type]
                )
            )
        elif behaviour == "abort":
            # Nomad never reads past this record's type byte: what follows is
            # not judged.
            scan.findings[:] = [
                f
                for f in scan.findings
                if not (
                    f.member == "state.bin"
                    and f.code.startswith("state.")
                    and f.offset is not None
                    and f.offset >= stats.first_offset
                )
            ]
            scan.report(
                Finding(
                    "state.aborting-type",
                    f"record type {number} {rt.name} ({count}): {where}'s restore stops "
                    "at this record before committing: it reports success but applies "
                    "none of the archive's records",
                    **common,  # type: ignore[arg-type]
                )
            )
            return
        elif target.version < rt.restore[0][0]:
            scan.report(
                Finding(
                    "state.unknown-type",
                    f"record type {number} {rt.name} ({count}) is newer than {where}",
                    nomad=f"Unrecognized snapshot type: [{number}]",
                    **common,  # type: ignore[arg-type]
                )
            )
        else:
            scan.report(
                Finding(
                    "state.fatal-type",
                    f"record type {number} {rt.name} ({count}): {where}'s restore fails on it",
                    nomad=f"snapshot type {record_name(number)} is not supported",
                    **common,  # type: ignore[arg-type]
                )
            )
