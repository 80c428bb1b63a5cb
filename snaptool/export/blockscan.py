"""One scan of an archive, its records cut into blocks and rendered in this
process or by forked workers (:mod:`.parallel`).

Blocks are rendered in process when the input is small (under
:data:`PARALLEL_MIN_BYTES`), when there is one core or no ``fork``, and when
``SNAPTOOL_JOBS=1``; ``SNAPTOOL_JOBS=N`` asks for N workers whatever the
input's size. Both ways print the same bytes.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

from ..errors import UsageError
from ..stream.reader import ArchiveScan, scan
from ..stream.statewalk import Block, RecordEvent
from .fastrender import BlockOptions, Record, records_of, render_entries, render_lines
from .parallel import WorkerPool
from .spool import Spools

__all__ = ["BLOCK_BYTES", "PARALLEL_MIN_BYTES", "guarded", "open_sink", "run_scan", "scan_blocks"]

#: Raw record bytes per block.
BLOCK_BYTES = 1 << 20

#: Inputs smaller than this are rendered in process (forking costs more).
PARALLEL_MIN_BYTES = 8 << 20

#: At most this many workers: past it the parent's framing is the limit.
MAX_JOBS = 4


class _Abort(BaseException):
    """Carries an error out of a record callback through the reader (which
    turns ordinary exceptions raised while walking into findings)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


def guarded(callback: Callable[[RecordEvent], None]) -> Callable[[RecordEvent], None]:
    """Wrap a record callback so its errors stop the scan and reach the
    caller of :func:`run_scan` unchanged."""

    def inner(ev: RecordEvent) -> None:
        try:
            callback(ev)
        except Exception as exc:  # noqa: BLE001 - re-raised by run_scan
            raise _Abort(exc) from exc

    return inner


def run_scan(
    path: str | os.PathLike[str],
    callback: Callable[[RecordEvent], None],
    *,
    record_types: Iterable[int] | None = None,
    plain_tar: bool = False,
) -> ArchiveScan:
    """``scan`` with raw record bytes, errors from ``callback`` propagated."""
    kwargs: dict[str, Any] = {}
    if record_types:
        kwargs["record_types"] = frozenset(record_types)
    try:
        return scan(path, on_record=guarded(callback), keep_raw=True, plain_tar=plain_tar, **kwargs)
    except _Abort as stop:
        raise stop.exc from None


class Sink(Protocol):
    """Where blocks go: ``put`` each (raising a record's error once its
    block's earlier records are out), ``finish`` for the per-block reports,
    ``abort`` on an interruption."""

    def put(self, records: list[Record] | Block) -> None: ...

    def finish(self) -> list[Any]: ...

    def abort(self) -> None: ...


class InProcess:
    """Renders and writes each block at once, in this process."""

    def __init__(self, opts: BlockOptions, out: IO[str] | None, spools: Spools | None) -> None:
        self.opts, self.out, self.spools = opts, out, spools
        self.reports: list[Any] = []
        self.failed = False

    def put(self, records: list[Record] | Block) -> None:
        if self.failed:
            return
        try:
            self._one(records)
        except BaseException:
            self.failed = True
            raise

    def _one(self, records: list[Record] | Block) -> None:
        if isinstance(records, Block):
            records = records_of(records)
        if self.spools is not None:
            entries, error = render_entries(records, self.opts)
            self.reports.append(self.spools.append(entries))
        else:
            lines, error = render_lines(records, self.opts)
            assert self.out is not None
            _write_lines(self.out, lines)
            self.reports.append(len(lines))
        if error is not None:
            raise error

    def finish(self) -> list[Any]:
        return self.reports

    def abort(self) -> None:
        self.failed = True


class InWorkers:
    """Hands blocks to a :class:`WorkerPool`; once it has failed, stays quiet."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.failed = False

    def put(self, records: list[Record] | Block) -> None:
        if self.failed:
            return
        try:
            self.pool.put(records)
        except BaseException:
            self.failed = True
            self.pool.abort()
            raise

    def finish(self) -> list[Any]:
        if self.failed:
            return []
        try:
            return self.pool.finish()
        except BaseException:
            self.failed = True
            self.pool.abort()
            raise

    def abort(self) -> None:
        self.failed = True
        self.pool.abort()


def _write_lines(out: IO[str], lines: list[str]) -> None:
    """One write per block; a block with a line that does not encode is
    written line by line, so the output stops at that line, as it did when
    every line was written on its own."""
    if not lines:
        return
    try:
        out.write("\n".join(lines) + "\n")
    except UnicodeEncodeError:
        for line in lines:
            out.write(line)
            out.write("\n")


def jobs_for(path: str | os.PathLike[str]) -> int:
    """How many workers to render with (1: in process)."""
    env = os.environ.get("SNAPTOOL_JOBS", "").strip()
    if not hasattr(os, "fork"):
        return 1
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise UsageError(f"SNAPTOOL_JOBS must be a whole number, not {env!r}") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    size = _input_size(path)
    if cores < 2 or (size is not None and size < PARALLEL_MIN_BYTES):  # None: a pipe, maybe big
        return 1
    return min(cores, MAX_JOBS)


def _input_size(path: str | os.PathLike[str]) -> int | None:
    """The input's size on disk (a raft directory: its state.bin); None when
    it cannot be known before reading (standard input, a FIFO); 0 when the
    path cannot be read (the scan then reports why)."""
    name = os.fspath(path)
    if name == "-":
        return None
    try:
        if os.path.isdir(name):
            name = os.path.join(name, "state.bin")
        st = os.stat(name)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _utf8_fd(out: IO[str]) -> int | None:
    """``out``'s file descriptor when workers can write to it directly (a
    real file or pipe, UTF-8), else None."""
    encoding = getattr(out, "encoding", None)
    if not encoding or codecs.lookup(encoding).name != "utf-8":
        return None
    try:
        return out.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def open_sink(
    path: str | os.PathLike[str], opts: BlockOptions, *, out: IO[str] | None = None, spools: Spools | None = None
) -> Sink:
    """A sink for JSON lines (``out``) or document objects (``spools``):
    workers when they pay, else this process."""
    jobs = jobs_for(path)
    fd = _utf8_fd(out) if out is not None else None
    if jobs < 2 or (spools is None and fd is None):
        return InProcess(opts, out, spools)
    if out is not None:
        out.flush()
    errors = (getattr(out, "errors", None) or "strict") if out is not None else "strict"
    return InWorkers(WorkerPool(jobs, opts, fd if fd is not None else -1, errors, spools))


def scan_blocks(
    path: str | os.PathLike[str], sink: Sink, opts: BlockOptions, *, plain_tar: bool = False
) -> tuple[ArchiveScan, list[Any]]:
    """Scan ``path``, handing the records of the filter's types to ``sink``
    in blocks; returns the scan and the sink's reports once every block is
    out. Without a type filter the walker hands out whole runs of records as
    they are (:class:`Block`: no work per record in this process); with one,
    a callback gathers the records of those types. A sink's error leaves the
    scan as :func:`guarded` errors do."""
    batch: list[Record] = []
    size = 0

    def on_block(block: Block) -> None:
        try:
            sink.put(block)
        except Exception as exc:  # noqa: BLE001 - re-raised below
            raise _Abort(exc) from exc

    def on_record(ev: RecordEvent) -> None:
        nonlocal batch, size
        batch.append((ev.index, ev.type, ev.offset, ev.size, ev.raw))  # type: ignore[arg-type]
        size += ev.size
        if size >= BLOCK_BYTES:
            full, batch, size = batch, [], 0
            try:
                sink.put(full)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                raise _Abort(exc) from exc

    def flush() -> list[Any]:
        sink.put(batch)
        return sink.finish()

    kwargs: dict[str, Any] = (
        {"record_types": frozenset(opts.flt.types), "on_record": on_record, "keep_raw": True}
        if opts.flt.types
        else {"on_block": on_block, "block_bytes": BLOCK_BYTES}
    )
    try:
        result = scan(path, plain_tar=plain_tar, **kwargs)
    except _Abort as stop:
        raise stop.exc from None
    except Exception:
        flush()  # the records read before the failure are printed, as before
        raise
    except BaseException:
        sink.abort()
        raise
    return result, flush()
