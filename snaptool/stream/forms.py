"""The other input forms: a raft snapshot directory and a bare state.bin.

A Nomad server keeps its own snapshots as raft ``FileSnapshotStore``
directories, ``<term>-<index>-<ms>/`` holding ``meta.json`` (the snapshot
metadata plus ``CRC``: the CRC-64/ECMA of state.bin, big-endian, base64) and
``state.bin``. Raft checks the CRC when it opens one. There is no tar, no gzip
and no SHA256SUMS.

A bare ``state.bin`` (for example extracted from an archive) has only the
record stream.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from ..errors import InputError
from ..findings import Finding
from .reader import ArchiveScan, Limits, new_walker
from .split import MIN_SIZE, ThreadedHash
from .statewalk import OnRecord

__all__ = ["scan_directory", "scan_state_file"]

_CHUNK = 1 << 20


def _walk_file(
    path: str,
    result: ArchiveScan,
    limits: Limits,
    on_record: OnRecord | None,
    keep_raw: bool,
    record_types: frozenset[int] | None = None,
    decode_types: frozenset[int] = frozenset(),
) -> int | None:
    """Walk a state.bin file; returns its CRC-64/ECMA (None without fastcrc)."""
    try:
        from fastcrc import crc64
    except ImportError:  # pragma: no cover - fastcrc is a dependency
        crc64 = None
    walker = new_walker(result, limits, on_record, keep_raw, record_types, decode_types)
    # a big file is hashed on a thread, beside the walk (hashlib lets go of the GIL)
    sha: Any = ThreadedHash() if _size(path) >= MIN_SIZE else hashlib.sha256()
    crc: int | None = None
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                sha.update(chunk)
                if crc64 is not None:
                    crc = crc64.xz(chunk, crc)
                walker.feed(chunk)
        digest = sha.hexdigest()
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=path) from None
    finally:
        if isinstance(sha, ThreadedHash):
            sha.close()  # a no-op after hexdigest(); else no thread is left behind
    result.state = walker.close()
    result.hashes["state.bin"] = digest
    result.seen.add("state.bin")
    result.tar_complete = True
    return crc if crc is not None or crc64 is None else crc64.xz(b"")


def scan_state_file(
    path: str,
    *,
    limits: Limits = Limits(),
    on_record: OnRecord | None = None,
    keep_raw: bool = False,
    record_types: frozenset[int] | None = None,
    decode_types: frozenset[int] = frozenset(),
) -> ArchiveScan:
    """Walk a bare state.bin: records only, no metadata to check against."""
    result = ArchiveScan(path=path, form="state", input_kind="a bare state.bin")
    result.compressed_size = _size(path)
    _walk_file(path, result, limits, on_record, keep_raw, record_types, decode_types)
    return result


def scan_directory(
    path: str,
    *,
    limits: Limits = Limits(),
    on_record: OnRecord | None = None,
    keep_raw: bool = False,
    record_types: frozenset[int] | None = None,
    decode_types: frozenset[int] = frozenset(),
) -> ArchiveScan:
    """Read a raft snapshot directory (meta.json with CRC, and state.bin)."""
    result = ArchiveScan(path=path, form="dir", input_kind="a raft snapshot directory")
    meta_path = os.path.join(path, "meta.json")
    state_path = os.path.join(path, "state.bin")
    for name, p in (("meta.json", meta_path), ("state.bin", state_path)):
        if not os.path.isfile(p):
            result.report(
                Finding("dir.missing-file", f"the directory has no {name}", member=name)
            )
    if not os.path.isfile(state_path):
        return result
    crc = _walk_file(state_path, result, limits, on_record, keep_raw, record_types, decode_types)
    if not os.path.isfile(meta_path):
        return result
    try:
        with open(meta_path, "rb") as f:
            raw = f.read(limits.max_meta_size + 1)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=meta_path) from None
    if len(raw) > limits.max_meta_size:
        result.report(Finding("limit.exceeded", "meta.json is larger than the limit", member="meta.json"))
        return result
    result.meta_parts.append(raw)
    result.seen.add("meta.json")
    stored = _stored_crc(raw)
    if stored is None:
        result.report(
            Finding(
                "dir.no-crc",
                "meta.json has no CRC field: raft writes one in its snapshot directories",
                member="meta.json",
            )
        )
    elif crc is not None and stored != crc.to_bytes(8, "big"):
        result.report(
            Finding(
                "dir.crc-mismatch",
                f"state.bin has CRC-64 {crc:016x}, meta.json says {stored.hex() or '(empty)'}",
                member="state.bin",
                nomad="CRC mismatch",
            )
        )
    return result


def _stored_crc(raw: bytes) -> bytes | None:
    try:
        obj = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    value = next((v for k, v in obj.items() if k.lower() == "crc"), None)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return b""


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=path) from None
