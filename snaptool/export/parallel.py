"""Rendering blocks of records on the other cores: forked workers that write
the output themselves, in order.

Decoding and printing a record costs about ten times as much as finding it,
so the parent only frames records (the stream walk) and cuts them into
blocks; block ``k`` goes to worker ``k % jobs``. A worker renders its block,
waits for its turn (a byte passed round a ring of pipes, so blocks are
written in archive order), writes the block to the output file descriptor
(JSON lines) or appends it to the table spools (the document), passes the
turn on and tells the parent how it went.

Memory stays bounded: a worker reads its next block only when it is done
with the last, and the parent's write of a block blocks until then. A worker
that fails stops the ring at its block, after writing the records before the
failing one, and sends the parent the error, which the parent raises; a
worker that dies without a word (killed, out of memory) is reported as such.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
from dataclasses import dataclass
from typing import Any

from ..stream.statewalk import Block
from .fastrender import BlockOptions, Record, records_of, render_entries, render_lines
from .spool import Spools

__all__ = ["WorkerError", "WorkerPool"]

_LEN = struct.Struct(">Q")


class WorkerError(RuntimeError):
    """A worker process ended without reporting (killed, out of memory)."""


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _LEN.pack(len(data)) + data)


def _recv(fd: int) -> Any:
    """The next message, or None at end of file."""
    head = _read_exactly(fd, _LEN.size)
    if head is None:
        return None
    body = _read_exactly(fd, _LEN.unpack(head)[0])
    if body is None:
        return None
    return pickle.loads(body)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one of a class
    with the same name and message (the CLI prints only those)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return type(type(exc).__name__, (Exception,), {})(str(exc))


# --------------------------------------------------------------------------
# the worker side


@dataclass
class _Worker:
    """A worker's own ends of the pipes and what it writes to."""

    opts: BlockOptions
    tasks: int
    status: int
    turn_in: int
    turn_out: int
    out_fd: int
    errors: str
    spools: Spools | None

    def run(self) -> None:
        gc.freeze()  # inherited objects: never scanned, pages stay shared
        while True:
            task = _recv(self.tasks)
            if task is None:
                return
            number, records = task
            report, failed = self._one(records)
            if failed is None:
                self._pass_turn()
            _send(self.status, (number, report, failed))
            if failed is not None:
                return

    def _pass_turn(self) -> None:
        try:
            os.write(self.turn_out, b"t")
        except BrokenPipeError:
            pass  # the next worker is gone: done, or its death is reported

    def _one(self, records: list[Record] | Block) -> tuple[Any, BaseException | None]:
        if isinstance(records, Block):
            records = records_of(records)
        if self.opts.document:
            entries, failed = render_entries(records, self.opts)
        else:
            lines, failed = render_lines(records, self.opts)
        if not os.read(self.turn_in, 1):
            raise SystemExit(0)  # the ring broke: the run was abandoned
        try:
            if self.spools is not None:
                report: Any = self.spools.append(entries)
            else:
                report = len(lines)
                self._write_lines(lines)
        except Exception as exc:  # noqa: BLE001 - a failed write comes first
            return None, _portable(exc)
        return report, None if failed is None else _portable(failed)

    def _write_lines(self, lines: list[str]) -> None:
        """Write as ``out.write`` would: a line that does not encode raises
        the error the reference path's write of that line raises."""
        if not lines:
            return
        try:
            data = ("\n".join(lines) + "\n").encode("utf-8", self.errors)
        except UnicodeEncodeError:
            for line in lines:
                _write_all(self.out_fd, line.encode("utf-8", self.errors) + b"\n")
            return
        _write_all(self.out_fd, data)


def _child(worker: _Worker, keep: set[int], every: list[int]) -> None:
    """Run a worker in the forked child; never returns."""
    code = 0
    try:
        for fd in every:
            if fd not in keep:
                os.close(fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a closed output: reported
        worker.run()
    except SystemExit:
        pass
    except BaseException:  # noqa: BLE001 - a child never prints a traceback
        code = 1
    os._exit(code)


# --------------------------------------------------------------------------
# the parent side


class WorkerPool:
    """``jobs`` forked workers rendering blocks in order (see module notes).

    ``out_fd`` and ``errors``: where and how JSON lines are written (UTF-8);
    ``spools``: where document objects go instead."""

    def __init__(self, jobs: int, opts: BlockOptions, out_fd: int, errors: str, spools: Spools | None) -> None:
        self._next = 0
        self._done = 0
        self._reports: list[tuple[int, Any]] = []
        self._pids: list[int] = []
        self._pending = [0] * jobs  # blocks sent to each worker, not yet reported
        tasks = [os.pipe() for _ in range(jobs)]
        status = [os.pipe() for _ in range(jobs)]
        ring = [os.pipe() for _ in range(jobs)]  # ring[i]: the turn into worker i
        every = [fd for pair in (*tasks, *status, *ring) for fd in pair]
        try:
            for i in range(jobs):
                worker = _Worker(
                    opts, tasks[i][0], status[i][1], ring[i][0], ring[(i + 1) % jobs][1], out_fd, errors, spools
                )
                pid = os.fork()
                if pid == 0:
                    _child(worker, {worker.tasks, worker.status, worker.turn_in, worker.turn_out}, every)
                self._pids.append(pid)
        except BaseException:  # a fork refused: no half-started pool left behind
            self._tasks, self._status, self._held = [], [], every
            self.abort()
            raise
        os.write(ring[0][1], b"t")  # block 0 may be written at once
        # The parent keeps the read ends of the task pipes: a dead worker then
        # shows as the end of its status pipe, never as SIGPIPE here.
        self._tasks = [w for _, w in tasks]
        self._status = [r for r, _ in status]
        self._held = [r for r, _ in tasks]
        for fd in every:
            if fd not in self._tasks and fd not in self._status and fd not in self._held:
                os.close(fd)
        for fd in self._tasks:
            os.set_blocking(fd, False)

    def put(self, records: list[Record] | Block) -> None:
        """Hand a block to its worker; waits while that worker is busy,
        reading reports meanwhile (and raising the errors they carry)."""
        fd = self._tasks[self._next % len(self._tasks)]
        data = pickle.dumps((self._next, records), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_LEN.pack(len(data)) + data)
        while view:
            readable, writable, _ = select.select(self._live(), [fd], [])
            self._read_reports(readable)
            if writable:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    pass
        self._pending[self._next % len(self._pending)] += 1
        self._next += 1

    def _live(self) -> list[int]:
        return [fd for fd in self._status if fd >= 0]

    def finish(self) -> list[Any]:
        """Wait for every block; returns the workers' reports in block order."""
        for fd in self._tasks:
            os.close(fd)
        self._tasks = []
        while self._done < self._next:
            readable, _, _ = select.select(self._live(), [], [])
            self._read_reports(readable)
        self._close()
        return [report for _, report in sorted(self._reports, key=lambda nr: nr[0])]

    def abort(self) -> None:
        """Stop every worker now (an error or an interrupt in the parent)."""
        for pid in self._pids:
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._close()

    def _close(self) -> None:
        for fd in self._tasks + self._live() + self._held:
            os.close(fd)
        self._tasks, self._status, self._held = [], [], []
        for pid in self._pids:
            if pid:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        self._pids = [0 for _ in self._pids]

    def _read_reports(self, ready: list[int]) -> None:
        """One report from each ready worker; raise the error one carries.
        The end of a status pipe is a worker's death unless it was done."""
        for fd in ready:
            i = self._status.index(fd)
            message = _recv(fd)
            if message is None:
                if self._pending[i]:
                    self._raise_reported_failure(fd)
                    raise self._death(i)
                os.close(fd)
                self._status[i] = -1
                continue
            self._pending[i] -= 1
            number, report, failed = message
            if failed is not None:
                self.abort()
                _raise_from_worker(failed)
            self._reports.append((number, report))
            self._done += 1

    def _raise_reported_failure(self, dead: int) -> None:
        """Raise a failure another worker has reported, if there is one: a
        worker that fails (a closed output, say) stops passing the turn, and
        the next worker, its turn pipe closed, ends without a report. The
        failure is the cause; that end is only its consequence."""
        for fd in (fd for fd in self._live() if fd != dead):
            while select.select([fd], [], [], 0)[0]:
                message = _recv(fd)
                if message is None:
                    break
                if message[2] is not None:
                    self.abort()
                    _raise_from_worker(message[2])

    def _death(self, i: int) -> WorkerError:
        """The error for worker ``i`` having ended without a report, after
        the others are stopped."""
        pid = self._pids[i]
        _, status = os.waitpid(pid, 0)
        self._pids[i] = 0
        self.abort()
        if os.WIFSIGNALED(status):
            how = f"was killed by signal {os.WTERMSIG(status)}"
        else:
            how = f"exited with status {os.WEXITSTATUS(status)}"
        return WorkerError(f"a worker process (pid {pid}) {how} before finishing its block")


def _raise_from_worker(exc: BaseException) -> None:
    """Raise a worker's error here. A closed output ends this process as
    writing to it here would have: by SIGPIPE when that is not ignored."""
    if isinstance(exc, BrokenPipeError) and signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL:
        signal.raise_signal(signal.SIGPIPE)
    raise exc
