"""Findings: what verify reports, as values.

Every finding has a stable code, a severity and a place. The severities are
the three layers of ``snaptool verify``:

``reject``
    Nomad's archive reader (``helper/snapshot`` ``read`` and
    ``concludeGzipRead``) refuses the file: inspect, save's verify and restore
    all fail before anything is applied.
``restore``
    The reader accepts the file but restore refuses it or crashes on it: the
    raft meta checks, or the FSM restore of state.bin (a failing FSM restore
    panics the leader).
``warning``
    Nomad accepts it, but it is not what Nomad writes (strict lint).
``info``
    Worth knowing, never a failure (sensitive content, for example).

The code table below is the single source for the spec's finding table
(``spec/findings.md`` is checked against it by a test).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["CODES", "Finding", "Severity", "FAILING"]

Severity = Literal["reject", "restore", "warning", "info"]

#: Severities that make ``verify`` fail without ``--strict``.
FAILING: frozenset[str] = frozenset({"reject", "restore"})

#: code -> (severity, one-line description)
CODES: dict[str, tuple[Severity, str]] = {
    # input sniffing
    "input.empty": ("reject", "the file is empty"),
    "input.not-gzip": ("reject", "the file is not gzip data"),
    "input.double-gzip": ("reject", "the archive is gzipped twice"),
    # gzip layer
    "gzip.bad-header": ("reject", "a gzip member header is invalid"),
    "gzip.bad-deflate": ("reject", "the deflate data is corrupt"),
    "gzip.truncated": ("reject", "the gzip stream ends inside a member"),
    "gzip.crc-mismatch": ("reject", "a member's CRC-32 does not match its data"),
    "gzip.isize-mismatch": ("reject", "a member's ISIZE does not match its length"),
    "gzip.trailing-bytes": ("reject", "bytes after the last gzip member"),
    "gzip.multi-member": ("warning", "more than one gzip member"),
    "gzip.header-fields": ("warning", "gzip header differs from what Go writes"),
    # tar layer
    "tar.bad-header": ("reject", "a tar header is invalid"),
    "tar.truncated": ("reject", "the tar stream ends inside a header or entry"),
    "tar.unexpected-entry": ("reject", "a tar entry other than the three files"),
    "tar.unread-bytes": ("reject", "data after the tar end-of-archive blocks"),
    "tar.missing-end-blocks": ("warning", "fewer than two end-of-archive blocks"),
    "tar.trailing-padding": (
        "warning",
        "plain tar: data after the end blocks (rejected once gzipped)",
    ),
    "tar.entry-order": ("warning", "entries not in Nomad's order"),
    "tar.duplicate-entry": ("warning", "an entry appears more than once"),
    "tar.missing-entry": ("warning", "an entry is absent (its sum is of no data)"),
    "tar.header-fields": ("warning", "a tar header differs from what Go writes"),
    # SHA256SUMS
    "sums.bad-line": ("reject", "a SHA256SUMS line Go's scanner rejects"),
    "sums.unknown-name": ("reject", "SHA256SUMS names a file not in a snapshot"),
    "sums.hash-mismatch": ("reject", "an entry's SHA-256 differs from SHA256SUMS"),
    "sums.missing-file": ("reject", "SHA256SUMS has no line for an entry"),
    "sums.line-too-long": ("reject", "a SHA256SUMS line longer than Go scans"),
    "sums.noncanonical": ("warning", "SHA256SUMS accepted but not as Go writes it"),
    # meta.json
    "meta.invalid": ("reject", "meta.json is not a JSON object Go can decode"),
    "meta.version": ("restore", "meta Version is not 1"),
    "meta.size-mismatch": ("restore", "meta Size differs from the state.bin length"),
    "meta.noncanonical": ("warning", "meta.json accepted but not as Go writes it"),
    # state.bin
    "state.empty": ("restore", "state.bin holds no snapshot header"),
    "state.bad-header": ("restore", "state.bin does not start with a header map"),
    "state.header-noncanonical": ("warning", "state.bin header is not 0x80"),
    "state.consul": ("warning", "state.bin's header looks like Consul's"),
    "state.truncated": ("restore", "state.bin ends inside a record"),
    "state.undecodable": ("restore", "a record's value is not valid msgpack"),
    "state.unknown-type": ("restore", "a record type the target Nomad does not know"),
    "state.fatal-type": ("restore", "a record type the target's restore fails on"),
    "state.enterprise-type": ("restore", "an Enterprise-only record type on CE"),
    "state.aborting-type": (
        "restore",
        "a record type at which restore reports success but applies nothing",
    ),
    "state.schema": ("restore", "a record Nomad's typed restore or state store refuses"),
    "state.schema-unavailable": ("warning", "record types could not be checked"),
    "state.record-too-large": ("reject", "a record passes the record size limit"),
    "state.past-meta-size": ("warning", "record walk stopped where meta Size ends"),
    # raft snapshot directories
    "dir.missing-file": ("reject", "the directory lacks meta.json or state.bin"),
    "dir.crc-mismatch": ("reject", "state.bin's CRC-64 differs from meta.json's CRC"),
    "dir.no-crc": ("warning", "meta.json has no CRC (raft always writes one)"),
    # sensitive content
    "content.key-material": ("info", "the archive holds cleartext key material"),
    "content.no-keyring": ("info", "key metadata without key material: keystore needed"),
    # limits
    "limit.exceeded": ("reject", "a resource limit stopped the read"),
}


@dataclass(frozen=True)
class Finding:
    """One problem or note about an archive, with where it is."""

    code: str
    message: str
    #: The archive member (``meta.json``, ``state.bin``, ``SHA256SUMS``) or
    #: layer (``gzip``, ``tar``) it concerns.
    member: str = ""
    #: Byte offset: in the compressed file for gzip findings, in the tar stream
    #: for tar findings, inside the member for member findings.
    offset: int | None = None
    #: Record index in state.bin (0 is the first record after the header).
    record: int | None = None
    #: What Nomad itself says, where its error text is known.
    nomad: str = ""

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    def location(self) -> str:
        parts = [self.member] if self.member else []
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity
        return {k: v for k, v in out.items() if v not in ("", None)}
