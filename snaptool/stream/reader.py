"""One streaming pass over a snapshot archive.

``file -> inflate (multistream gzip) -> tar walk -> per entry: SHA-256, and
meta.json -> bytes (bounded), SHA256SUMS -> bytes (bounded), state.bin ->
record walk``. Nothing is written to disk; memory is one inflate chunk, one
tar block, the small members, and the record walker's buffer.

The result, :class:`ArchiveScan`, holds facts and the findings the stream
layers raised (gzip, tar, state.bin framing). Rules that need the whole
archive (SHA256SUMS against the hashes, meta against state.bin) are applied
by :mod:`snaptool.checks`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import InputError
from ..findings import Finding
from . import split as two_processes
from . import threaded
from .inflate import CHUNK, inflate
from .sniff import describe
from .statewalk import BLOCK_BYTES, OnBlock, OnRecord, StateStats, StateWalker
from .tarwalk import Entry, TarWalker

__all__ = ["ArchiveScan", "Limits", "MEMBERS", "scan"]

#: Called with the number of input bytes read so far (for progress bars).
Progress = Callable[[int], None]

#: The three names Nomad's reader accepts, in the order Nomad writes them.
MEMBERS = ("meta.json", "state.bin", "SHA256SUMS")


@dataclass(frozen=True)
class Limits:
    """Resource limits, each a named parameter with its default."""

    #: meta.json bytes kept (Nomad writes about 300 bytes per server).
    max_meta_size: int = 1 << 20
    #: SHA256SUMS bytes kept (Nomad writes 150).
    max_sums_size: int = 1 << 20
    #: one msgpack value in state.bin (msgpack's own buffer bound).
    max_record_size: int = 256 << 20
    #: tar entries (Nomad writes 3).
    max_entries: int = 64
    #: bytes after the tar end blocks counted before giving up counting.
    max_unread: int = 64 << 20


@dataclass
class ArchiveScan:
    """Everything one pass learned about an archive."""

    path: str
    plain_tar: bool = False
    compressed_size: int = 0
    decompressed_size: int = 0
    entries: list[Entry] = field(default_factory=list)
    #: the data of each meta.json entry (more than one when duplicated)
    meta_parts: list[bytes] = field(default_factory=list)
    sums_raw: bytes = b""
    #: SHA-256 of each member's data (duplicates: of the concatenation)
    hashes: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    state: StateStats | None = None
    findings: list[Finding] = field(default_factory=list)
    #: the tar walk reached its end (end blocks or end of data) without error
    tar_complete: bool = False
    end_blocks: int = 0
    input_kind: str = ""
    #: how the input was read: ``snap`` (gzipped archive), ``tar`` (plain
    #: tar), ``dir`` (raft snapshot directory), ``state`` (bare state.bin)
    form: str = "snap"

    def report(self, finding: Finding) -> None:
        self.findings.append(finding)

    @property
    def meta_raw(self) -> bytes:
        return b"".join(self.meta_parts)


class _HashSink:
    def __init__(self, h: hashlib._Hash) -> None:
        self.h = h

    def write(self, data: memoryview) -> None:
        self.h.update(data)

    def close(self, complete: bool) -> None:
        pass


class _BufferSink:
    def __init__(self, scan: ArchiveScan, entry: Entry, h: hashlib._Hash, limit: int, attr: str) -> None:
        self.scan, self.entry, self.h, self.limit, self.attr = scan, entry, h, limit, attr
        self.parts: list[bytes] = []
        self.size = 0
        self.over = False

    def write(self, data: memoryview) -> None:
        self.h.update(data)
        self.size += len(data)
        if self.size > self.limit:
            if not self.over:
                self.over = True
                self.scan.report(
                    Finding(
                        "limit.exceeded",
                        f"{self.entry.name} is larger than the {self.limit}-byte limit",
                        member=self.entry.name,
                    )
                )
            return
        self.parts.append(bytes(data))

    def close(self, complete: bool) -> None:
        if self.over:
            return
        data = b"".join(self.parts)
        if self.attr == "meta_parts":
            self.scan.meta_parts.append(data)
        else:
            self.scan.sums_raw += data


class _StateSink:
    """Hashes state.bin and walks its records; stops walking past ``limit``
    (meta Size, when meta.json came first: a gzip bomb cannot make the walk
    run on for ever) but keeps hashing, as Nomad's reader reads it all."""

    def __init__(self, walker: StateWalker, h: hashlib._Hash, limit: int | None) -> None:
        self.walker, self.h, self.limit = walker, h, limit
        self.size = 0

    def write(self, data: memoryview) -> None:
        self.h.update(data)
        before = self.size
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            # the records before the limit are walked, however the data
            # was cut into pieces
            keep = max(0, self.limit - before)
            if keep:
                self.walker.feed(data[:keep])
                data = data[keep:]
            self.walker.stop(
                "state.past-meta-size",
                f"state.bin runs past meta Size ({self.limit} bytes): the record walk "
                "stopped there (restore refuses the size mismatch)",
                offset=self.limit,
            )
            self.limit = None
        self.walker.feed(data)  # once stopped, the walker only counts bytes

    def close(self, complete: bool) -> None:
        pass


def scan(
    path: str | os.PathLike[str],
    *,
    plain_tar: bool = False,
    limits: Limits = Limits(),
    on_record: OnRecord | None = None,
    keep_raw: bool = False,
    record_types: frozenset[int] | None = None,
    decode_types: frozenset[int] = frozenset(),
    progress: Progress | None = None,
    split: bool | str | None = None,
    skip_records: bytes | bytearray = b"",
    on_block: OnBlock | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> ArchiveScan:
    """Read an archive once, front to back, and return what it holds.

    ``on_record`` is called for every record (or, with ``record_types``, for
    records of those types); ``keep_raw`` gives it the value's bytes.
    ``split`` reads on two cores: ``True`` or ``"thread"`` with a reader
    thread (:mod:`snaptool.stream.threaded`), ``"fork"`` with a forked
    reader (:mod:`snaptool.stream.split`), ``False`` in one thread; ``None``
    decides by the input's size and the machine. Records whose
    index has a non-zero byte in ``skip_records`` are not handed out.
    ``on_block``, instead of ``on_record``, is handed runs of whole records
    (see :class:`~snaptool.stream.statewalk.Block`), of about
    ``block_bytes`` each."""
    name = os.fspath(path)
    if name == "-":  # standard input: one pass needs no seeking
        import sys

        return _scan_open(
            sys.stdin.buffer, "<stdin>", plain_tar, limits, on_record, keep_raw,
            record_types, decode_types, progress, split, skip_records, on_block, block_bytes,
        )
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below
    except IsADirectoryError:
        raise InputError("is a directory, not a snapshot file", where=name) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=name) from None
    with f:
        try:
            return _scan_open(
                f, name, plain_tar, limits, on_record, keep_raw,
                record_types, decode_types, progress, split, skip_records, on_block, block_bytes,
            )
        except OSError as exc:
            raise InputError(f"read failed: {exc.strerror or exc}", where=name) from None


def _scan_open(
    f: BinaryIO,
    name: str,
    plain_tar: bool,
    limits: Limits,
    on_record: OnRecord | None,
    keep_raw: bool,
    record_types: frozenset[int] | None = None,
    decode_types: frozenset[int] = frozenset(),
    progress: Progress | None = None,
    split: bool | str | None = None,
    skip_records: bytes | bytearray = b"",
    on_block: OnBlock | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> ArchiveScan:
    result = ArchiveScan(path=name, plain_tar=plain_tar, form="tar" if plain_tar else "snap")
    regular = False
    try:
        st = os.fstat(f.fileno())
        regular = stat.S_ISREG(st.st_mode)
        result.compressed_size = st.st_size if regular else 0
        if stat.S_ISFIFO(st.st_mode):
            _widen_pipe(f.fileno())
    except (OSError, ValueError):
        pass
    # Pipes and devices cannot seek: the first bytes are read once, looked at,
    # and put back in front of the stream.
    head = f.read(4096)
    result.input_kind = describe(head, result.compressed_size if regular else len(head))
    walker = new_walker(result, limits, on_record, keep_raw, record_types, decode_types, skip_records, on_block, block_bytes)
    how = two_processes.choose(split, result.compressed_size if regular else 0)
    if how == "one":
        return _pipeline(_Prepended(head, f, progress, regular=regular), result, walker, limits)

    own: BinaryIO | None = None
    if how == "thread":
        head, own = _own_descriptor(f, head)

    def work(
        remote: two_processes.RemoteWalker, forward: Callable[[Finding], None], tell: Progress
    ) -> ArchiveScan:
        """In the reader (a forked child or a thread): the pipeline on a scan
        of its own, its findings kept and forwarded, the walk forwarded."""
        mine = copy.copy(result)
        mine.findings = []

        def report(finding: Finding) -> None:
            mine.findings.append(finding)
            forward(finding)

        mine.report = report  # type: ignore[method-assign]
        sha = two_processes.ThreadedHash()  # state.bin hashed on a thread of its own, beside the inflate
        try:
            source = _Prepended(head, own or f, tell, regular=regular)
            return _pipeline(source, mine, remote, limits, sha)  # type: ignore[arg-type]
        finally:
            sha.close()
            del mine.report
            if own is not None:
                own.close()

    if how == "fork":
        return two_processes.run(work, walker, result, progress)
    return threaded.run(work, walker, result, progress)


def _widen_pipe(fd: int) -> None:
    """Ask for a pipe buffer of :data:`CHUNK` bytes (Linux; 64 KiB by
    default): reads of a pipe return at most its buffer, and fewer, larger
    reads cost less per byte. Where it is refused, nothing changes."""
    try:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < CHUNK:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, CHUNK)
    except (ImportError, AttributeError, OSError):
        pass


def _own_descriptor(f: BinaryIO, head: bytes) -> tuple[bytes, BinaryIO | None]:
    """For a reader thread: the bytes ``f`` has buffered beyond ``head``
    (added to it), and an unbuffered file of its own on a duplicate of
    ``f``'s descriptor, at the same place. A buffered file is not shared
    between threads: closing it, and Python's exit, wait for its lock, which
    a read stuck on a stalled pipe would hold for ever (at exit: a fatal
    error). None when ``f`` has no descriptor: it is shared then."""
    try:
        fd = f.fileno()
        read1 = f.read1  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return head, None
    head += read1(CHUNK)  # what is buffered, else one read (the next bytes anyway)
    return head, io.FileIO(os.dup(fd), "rb")


def _pipeline(
    f: BinaryIO, result: ArchiveScan, walker: StateWalker, limits: Limits, state_hash: Any = None
) -> ArchiveScan:
    """inflate -> tar -> per-entry sinks, for one input already opened;
    ``state_hash`` stands in for state.bin's SHA-256 if given."""
    plain_tar = result.plain_tar
    hashes = {"meta.json": hashlib.sha256(), "state.bin": state_hash or hashlib.sha256()}
    state_seen = False

    def open_entry(entry: Entry) -> object:
        nonlocal state_seen
        result.seen.add(entry.name)
        if entry.name == "meta.json":
            return _BufferSink(result, entry, hashes["meta.json"], limits.max_meta_size, "meta_parts")
        if entry.name == "state.bin":
            state_seen = True
            return _StateSink(walker, hashes["state.bin"], _meta_size(result.meta_parts))
        if entry.name == "SHA256SUMS":
            return _BufferSink(result, entry, hashlib.sha256(), limits.max_sums_size, "sums_raw")
        hint = " (this looks like a Vault raft snapshot)" if entry.name == "SHA256SUMS.sealed" else ""
        result.report(
            Finding(
                "tar.unexpected-entry",
                f"unexpected tar entry {entry.name!r} (Nomad accepts only meta.json, "
                f"state.bin and SHA256SUMS){hint}",
                member="tar",
                offset=entry.offset,
                nomad=f'unexpected file "{entry.name}" in snapshot',
            )
        )
        return _HashSink(hashlib.sha256())

    tar = TarWalker(open_entry, result.report, max_entries=limits.max_entries, max_unread=limits.max_unread, gzipped=not plain_tar)  # type: ignore[arg-type]
    chunks = _plain_chunks(f) if plain_tar else inflate(f, _gzip_reporter(result))
    for i, chunk in enumerate(chunks):
        if i == 0 and chunk[:3] == b"\x1f\x8b\x08":
            result.report(
                Finding(
                    "input.double-gzip",
                    "the archive is gzipped twice (a proxy's Content-Encoding: gzip "
                    "saved as is?); gunzip it once and check again",
                    member="tar",
                    offset=0,
                    nomad="failed reading snapshot: archive/tar: invalid tar header",
                )
            )
            tar.stopped = True
            break
        tar.feed(chunk)
        if tar.stopped or tar.unread_capped:
            break
    # what the tar walk took in (where it stopped, when it stopped early): the
    # same number however inflate's output was cut into chunks
    result.decompressed_size = tar.tar_length + tar.unread
    tar.close()
    result.entries = tar.entries
    result.end_blocks = tar.end_blocks
    result.tar_complete = not tar.stopped and not any(
        f.code in ("input.empty", "input.not-gzip", "gzip.truncated", "gzip.bad-header", "gzip.bad-deflate")
        for f in result.findings
    )
    if state_seen:
        result.state = walker.close() if result.tar_complete else walker.abandon()
    result.hashes = {n: h.hexdigest() for n, h in hashes.items()}
    if not result.compressed_size and isinstance(f, _Prepended) and f.ended:
        result.compressed_size = f.done  # a pipe, read to its end: its length
    return result


def _meta_size(parts: list[bytes]) -> int | None:
    """meta Size from the meta.json read so far, if it decodes."""
    from ..meta import MetaError, SnapshotMeta

    if not parts:
        return None
    meta = SnapshotMeta()
    try:
        for part in parts:
            meta = SnapshotMeta.parse(part, onto=meta)
    except MetaError:
        return None
    return meta.Size if meta.Size >= 0 else None


def new_walker(
    result: ArchiveScan,
    limits: Limits,
    on_record: OnRecord | None,
    keep_raw: bool,
    record_types: frozenset[int] | None,
    decode_types: frozenset[int],
    skip_records: bytes | bytearray = b"",
    on_block: OnBlock | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> StateWalker:
    """The record walker every input form uses, reporting into ``result``."""
    return StateWalker(
        result.report,
        max_record_size=limits.max_record_size,
        on_record=on_record,
        keep_raw=keep_raw,
        record_types=record_types,
        decode_types=decode_types,
        skip_records=skip_records,
        on_block=on_block,
        block_bytes=block_bytes,
    )


class _Prepended:
    """A read-only stream: ``head``, then the rest of ``f``; ``progress`` is
    told how many bytes of the input have been read in all.

    Of a regular file, a read returns the count asked for (the input is cut
    into the same pieces however it was opened, so a report that depends on
    where a piece starts is the same). Of a pipe, it returns what one read
    gives (``read1``): data that has arrived is handled at once, not held
    until more comes."""

    def __init__(self, head: bytes, f: BinaryIO, progress: Progress | None = None, *, regular: bool = False) -> None:
        self.head, self.f, self.progress = head, f, progress
        self.regular = regular
        self.done = len(head)
        self.ended = False  # the end of the input was seen
        self._read1 = f.read if regular else getattr(f, "read1", f.read)

    def read(self, n: int = -1) -> bytes:
        if self.head and 0 <= n and (n <= len(self.head) or not self.regular):
            data, self.head = self.head[:n], self.head[n:]  # of a pipe: what is here, without waiting
            return data
        data, self.head = self.head, b""
        want = -1 if n < 0 else n - len(data)
        if want:
            more = self.f.read() if want < 0 else self._read1(want)
            self.ended = self.ended or not more
            self.done += len(more)
            if self.progress is not None and more:
                self.progress(self.done)
            data += more
        return data


def _gzip_reporter(result: ArchiveScan):  # type: ignore[no-untyped-def]
    def report(finding: Finding) -> None:
        if finding.code == "input.not-gzip":
            finding = Finding(
                finding.code,
                f"not gzip data: {result.input_kind}",
                member=finding.member,
                offset=finding.offset,
                nomad=finding.nomad,
            )
        result.report(finding)

    return report


def _plain_chunks(f: BinaryIO):  # type: ignore[no-untyped-def]
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            return
        yield chunk
