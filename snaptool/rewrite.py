"""New archives from old ones: ``snaptool filter`` and ``snaptool redact``.

One streaming pass over the input: every state.bin record goes to a
decision function that keeps it (its bytes are copied unchanged), drops it,
or replaces its value. The new state.bin body is written to a temporary file
as records arrive, never held in memory; then the output archive (meta.json
with the new ``Size``, state.bin, SHA256SUMS over both) is written, gzipped,
beside the destination and renamed into place.

Edited records are changed *surgically*: only the bytes of the changed
top-level fields are replaced, re-encoded the way Nomad's go-msgpack encoder
writes them (strings as fixstr/str16/str32, never str8; nil as ``0xc0``), so
everything else in the record stays byte for byte as Nomad wrote it.

Redaction (``redact_decider``):

* **root key material** (WrappedRootKeys, type 30, Nomad 1.9+): as Nomad's
  own ``operator snapshot redact`` does, a key with ``WrappedKeys`` gets
  ``WrappedKeys = nil`` and ``KeyID + " [REDACTED]"`` (so nothing can
  mistake it for a usable key). RootKeyMeta (type 24, 1.4-1.8) holds no key
  material (those versions keep the keyring on the servers' disks).
* **ACL token secrets** (ACLToken, type 12): ``SecretID`` becomes
  ``00000000-`` followed by random hex in UUID v4 form, e.g.
  ``00000000-3f1c-4a9e-8b27-5d0e6c1f9a42``. It passes Nomad's
  ``helper.IsUUID``, is unique (the state store indexes tokens by secret)
  and *cannot be guessed*: a fixed placeholder would become a working
  credential for whoever restores the archive, because Nomad resolves a
  token by looking its secret up. The token's ``Hash`` does not cover the
  secret and stays valid. A cluster restored from a redacted archive has
  no known token: reset ACL bootstrap (``acl-bootstrap-reset`` file, then
  ``nomad acl bootstrap``) to get in.
* optionally node secrets (Node ``SecretID``, type 0: clients of a
  restored cluster can then no longer re-register) and workload identities
  (Alloc ``SignedIdentities``, type 4, set to nil).
* optionally server addresses in meta.json: every
  ``Configuration.Servers[].Address`` becomes ``192.0.2.<n>:<port>``
  (RFC 5737 documentation addresses, the port kept) and ``Peers`` is
  re-encoded from the same mapping. Restore ignores both.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgpack

from .checks import check
from .errors import InputError, SnaptoolError, UsageError
from .format.gzip import GO_HEADER
from .format.records import by_number, record_name
from .format.sums import canonical_line
from .format.tar import BLOCK, go_header
from .meta import MetaError, SnapshotMeta, go_json
from .stream.statewalk import RecordEvent
from .values import decode, ext_hook
from .export import run_scan

__all__ = [
    "DROP",
    "KEEP",
    "REDACTED_KEY_SUFFIX",
    "REDACTED_TEXT",
    "RewriteError",
    "RewriteReport",
    "filter_decider",
    "go_nil",
    "go_str",
    "is_placeholder",
    "map_fields",
    "peers_text",
    "redact_decider",
    "redact_meta_addresses",
    "rewrite_archive",
    "secret_placeholder",
    "splice",
]

KEEP = None
DROP = b""

#: Appended to a root key's KeyID when its key material is removed (Nomad's).
REDACTED_KEY_SUFFIX = " [REDACTED]"

#: First group of every placeholder ACL/node secret.
PLACEHOLDER_PREFIX = "00000000-"


class RewriteError(SnaptoolError):
    """The input cannot be rewritten (it is not a readable archive)."""

    exit_code = 1


# --------------------------------------------------------------------------
# msgpack, as Nomad's encoder writes it


def go_str(data: str | bytes) -> bytes:
    """A msgpack raw string as go-msgpack writes it (fixstr, str16, str32)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    n = len(raw)
    if n < 32:
        return bytes([0xA0 | n]) + raw
    if n < 1 << 16:
        return b"\xda" + struct.pack(">H", n) + raw
    return b"\xdb" + struct.pack(">I", n) + raw


def go_nil() -> bytes:
    return b"\xc0"


@dataclass(frozen=True)
class Field:
    key: str
    key_start: int
    value_start: int
    value_end: int


def map_fields(raw: bytes) -> list[Field]:
    """Where each top-level key and value of a msgpack map lies in ``raw``."""
    up = msgpack.Unpacker(raw=True, strict_map_key=False, ext_hook=ext_hook)
    up.feed(raw)
    try:
        n = up.read_map_header()
    except Exception as exc:  # noqa: BLE001 - msgpack raises several kinds
        raise ValueError(f"record is not a msgpack map ({type(exc).__name__})") from None
    fields = []
    for _ in range(n):
        k0 = up.tell()
        key = up.unpack()
        v0 = up.tell()
        up.skip()
        v1 = up.tell()
        name = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key)
        fields.append(Field(name, k0, v0, v1))
    return fields


def splice(raw: bytes, new_values: dict[str, bytes]) -> bytes:
    """``raw`` with the encoded values of the named top-level fields replaced
    (fields not present are left alone; nothing else changes)."""
    out = raw
    for f in sorted(map_fields(raw), key=lambda f: f.value_start, reverse=True):
        if f.key in new_values:
            out = out[: f.value_start] + new_values[f.key] + out[f.value_end :]
    return out


# --------------------------------------------------------------------------
# the report


@dataclass
class RewriteReport:
    input: str
    output: str
    kept: dict[int, int] = field(default_factory=dict)
    dropped: dict[int, int] = field(default_factory=dict)
    changed: dict[int, int] = field(default_factory=dict)
    state_size: int = 0
    input_state_size: int = 0
    notes: list[str] = field(default_factory=list)
    meta_changes: list[str] = field(default_factory=list)

    def _rows(self, counts: dict[int, int]) -> list[dict[str, Any]]:
        return [
            {"Type": record_name(t), "TypeNumber": t, "Count": n}
            for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], record_name(kv[0])))
        ]

    @property
    def records_in(self) -> int:
        return sum(self.kept.values()) + sum(self.dropped.values())

    @property
    def records_out(self) -> int:
        return sum(self.kept.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "Input": self.input,
            "Output": self.output,
            "RecordsIn": self.records_in,
            "RecordsOut": self.records_out,
            "StateSizeIn": self.input_state_size,
            "StateSizeOut": self.state_size,
            "Dropped": self._rows(self.dropped),
            "Changed": self._rows(self.changed),
            "Kept": self._rows(self.kept),
            "MetaChanges": self.meta_changes,
            "Notes": self.notes,
        }


# Decision: return KEEP (None) to copy the record, DROP (b"") to drop it, or
# the record's new msgpack value bytes.
Decider = Callable[[RecordEvent], bytes | None]
MetaEditor = Callable[[SnapshotMeta, RewriteReport], None]


# --------------------------------------------------------------------------
# writing


class _GzipFile:
    """One gzip member with Go's header, written as data arrives."""

    def __init__(self, f: IO[bytes], level: int = 6) -> None:
        self.f = f
        self.c = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.crc = 0
        self.size = 0
        f.write(GO_HEADER)

    def write(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self.f.write(self.c.compress(data))

    def close(self) -> None:
        self.f.write(self.c.flush())
        self.f.write(struct.pack("<II", self.crc, self.size & 0xFFFFFFFF))


def _write_archive(
    out: IO[bytes], meta_json: bytes, header: bytes, body: IO[bytes], body_size: int, state_sha: bytes
) -> None:
    mtime = int(time.time())
    gz = _GzipFile(out)
    state_size = len(header) + body_size
    sums = canonical_line(hashlib.sha256(meta_json).digest(), "meta.json") + canonical_line(
        state_sha, "state.bin"
    )
    try:
        state_header = go_header("state.bin", state_size, mtime)
    except ValueError:
        raise RewriteError(f"state.bin of {state_size} bytes needs a PAX header, which snaptool does not write") from None
    gz.write(go_header("meta.json", len(meta_json), mtime))
    gz.write(meta_json + bytes(-len(meta_json) % BLOCK))
    gz.write(state_header)
    gz.write(header)
    body.seek(0)
    while True:
        chunk = body.read(1 << 20)
        if not chunk:
            break
        gz.write(chunk)
    gz.write(bytes(-state_size % BLOCK))
    gz.write(go_header("SHA256SUMS", len(sums), mtime))
    gz.write(sums + bytes(-len(sums) % BLOCK))
    gz.write(bytes(2 * BLOCK))
    gz.close()


def rewrite_archive(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    decide: Decider,
    *,
    meta_edit: MetaEditor | None = None,
    force: bool = False,
) -> RewriteReport:
    """Copy ``src`` to ``dst`` through ``decide``; see the module notes."""
    src_name, target = os.fspath(src), Path(dst)
    if target.exists() and not force:
        raise UsageError(f"{target} exists (use --force to replace it)")
    if target.is_dir():
        raise UsageError(f"{target} is a directory")
    if not os.path.exists(src_name):
        raise InputError("no such file", where=src_name)
    report = RewriteReport(src_name, os.fspath(target))
    directory = target.parent if str(target.parent) else Path(".")
    state_hash = hashlib.sha256()

    with tempfile.TemporaryFile(dir=directory, prefix=f".{target.name}.state.") as body:
        size = 0

        def on_record(ev: RecordEvent) -> None:
            nonlocal size
            verdict = decide(ev)
            if verdict == DROP:
                report.dropped[ev.type] = report.dropped.get(ev.type, 0) + 1
                return
            report.kept[ev.type] = report.kept.get(ev.type, 0) + 1
            value = ev.raw if verdict is KEEP else verdict
            assert value is not None
            if verdict is not KEEP and verdict != ev.raw:
                report.changed[ev.type] = report.changed.get(ev.type, 0) + 1
            data = bytes([ev.type]) + value
            body.write(data)
            state_hash.update(data)
            size += len(data)

        try:
            result = run_scan(src_name, on_record)
        except SnaptoolError:
            raise
        except OSError as exc:
            raise InputError(f"cannot write the new state.bin: {exc}", where=os.fspath(directory)) from None
        except Exception as exc:  # noqa: BLE001
            raise RewriteError(f"cannot rewrite a record: {type(exc).__name__}: {exc}", where=src_name) from exc
        meta = check(result)
        rejects = [f for f in result.findings if f.severity == "reject"]
        if rejects:
            raise RewriteError(f"Nomad's reader rejects the input: {rejects[0].code}: {rejects[0].message}", where=src_name)
        state = result.state
        if state is None or not state.complete or state.header is None:
            problem = next((f for f in result.findings if f.member == "state.bin"), None)
            why = f": {problem.code}: {problem.message}" if problem else ""
            raise RewriteError(f"state.bin could not be read to its end{why}", where=src_name)
        if meta is None:
            try:
                meta = SnapshotMeta.parse(result.meta_raw)
            except MetaError as exc:
                raise RewriteError(f"meta.json cannot be decoded: {exc}", where=src_name) from None
        report.input_state_size = state.length
        header = state.header
        final_hash = hashlib.sha256(header)
        body.flush()
        body.seek(0)
        while True:
            chunk = body.read(1 << 20)
            if not chunk:
                break
            final_hash.update(chunk)
        report.state_size = len(header) + size
        if meta_edit is not None:
            meta_edit(meta, report)
        meta.Size = report.state_size
        meta_json = go_json(meta)

        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                _write_archive(out, meta_json, header, body, size, final_hash.digest())
                out.flush()
                os.fsync(out.fileno())
            if target.exists() and not force:
                raise UsageError(f"{target} exists (use --force to replace it)")
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    return report


# --------------------------------------------------------------------------
# filter


def filter_decider(
    *,
    keep_types: set[int] | None = None,
    drop_types: set[int] | None = None,
    drop_where: str | None = None,
    drop_enterprise: bool = False,
    drop_unknown: bool = False,
    namespace: str | None = None,
) -> Decider:
    """Keep or drop whole records; kept records are never changed.

    ``namespace`` keeps one namespace: records of other namespaces are
    dropped, cluster-wide records (nodes, indexes, ACL objects, node pools,
    scheduler config, ...) are kept, and Namespace records are kept for the
    namespace itself and ``default``. ``drop_where`` is a JMESPath expression
    evaluated on the record as ``snaptool state`` prints it (with secrets);
    records for which it is true are dropped."""
    from .export import RecordFilter, namespace_of, plain, render_stored

    compiled = RecordFilter(where=drop_where) if drop_where else None

    def decide(ev: RecordEvent) -> bytes | None:
        rt = by_number(ev.type)
        if keep_types and ev.type not in keep_types:
            return DROP
        if drop_types and ev.type in drop_types:
            return DROP
        if drop_enterprise and rt is not None and rt.edition == "ent":
            return DROP
        if drop_unknown and rt is None:
            return DROP
        if namespace is None and compiled is None:
            return KEEP
        assert ev.raw is not None
        value = decode(ev.raw)
        if namespace is not None:
            ns = namespace_of(ev.type, value)
            if ev.type == 64:
                if ns not in (namespace, "default"):
                    return DROP
            elif ns is not None and ns != namespace:
                return DROP
        if compiled is not None:
            shown = render_stored(ev.type, value, show_secrets=True) if rt else plain(value)
            if compiled.where_ok(shown):
                return DROP
        return KEEP

    return decide


# The redact deciders live in snaptool.redact; these names stay reachable here.
from .redact import (  # noqa: E402, F401
    REDACTED_TEXT,
    is_placeholder,
    peers_text,
    redact_decider,
    redact_meta_addresses,
    secret_placeholder,
)
