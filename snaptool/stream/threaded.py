"""One pass on two cores in one process: a reader thread reads, inflates,
walks the tar and hashes; the calling thread walks state.bin's records.

ISA-L's ``IgzipDecompressor`` and ``hashlib`` let go of the GIL while they
work (two inflates on two threads take as long as one; measured), so the
reader thread's heavy steps run beside the record walk, which holds the GIL.
Compared with the forked reader of :mod:`snaptool.stream.split`, nothing
crosses a pipe: state.bin's chunks are handed over as views of the inflate's
own output, and the findings and results as objects. The messages and their
order are those of the forked reader (its :class:`RemoteWalker` stands in
for the walker, its :func:`replay` answers), so both learn exactly what one
thread learns.

The GIL's switch interval is shortened while the pass runs: the reader
thread asks for the GIL after every inflate call, and with the default 5 ms
it would wait most of that time behind the record walk.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .split import _ERROR, _RESULT, RemoteWalker, Work, replay

if TYPE_CHECKING:
    from .reader import ArchiveScan, Progress
    from .statewalk import StateWalker

__all__ = ["SWITCH_INTERVAL", "run"]

#: Messages waiting at most: the memory held is this many inflate chunks.
DEPTH = 4

#: Seconds to wait for the reader thread to end when the pass stops early.
LINGER = 2.0

#: Seconds of silence after which a reader that has not ended is taken to
#: be stuck in a read, and is not waited for any longer.
QUIET = 0.25

#: The GIL switch interval during a pass, in seconds (Python's default is 0.005).
SWITCH_INTERVAL = 0.0001


class _Cancelled(BaseException):
    """The calling thread stopped listening: the reader thread ends quietly."""


class _QueueSender:
    """The reader thread's end: the interface of split's pipe sender, over a
    bounded queue."""

    def __init__(self, q: queue.Queue[tuple[bytes, Any] | None], cancelled: threading.Event) -> None:
        self.q, self.cancelled = q, cancelled

    def send(self, tag: bytes, payload: Any = b"") -> None:
        if isinstance(payload, memoryview) and not isinstance(payload.obj, bytes):
            payload = bytes(payload)  # a view of a buffer its owner will reuse
        elif tag in (b"N", b"P"):
            payload = int.from_bytes(payload, "little")
        self._put((tag, payload))

    def send_object(self, tag: bytes, value: object) -> None:
        self._put((tag, value))

    def _put(self, message: tuple[bytes, Any] | None) -> None:
        while True:
            if self.cancelled.is_set():
                raise _Cancelled
            try:
                self.q.put(message, timeout=0.05)
                return
            except queue.Full:
                continue


def run(work: Work, walker: StateWalker, result: ArchiveScan, progress: Progress | None) -> ArchiveScan:
    """``work`` on a reader thread; this thread walks records with
    ``walker`` and collects findings into ``result``. Returns the reader's
    scan, completed with this thread's findings and walk."""
    q: queue.Queue[tuple[bytes, Any] | None] = queue.Queue(maxsize=DEPTH)
    cancelled = threading.Event()

    def reader() -> None:
        sender = _QueueSender(q, cancelled)
        try:
            report: Callable[[Any], None] = lambda finding: sender.send_object(b"F", finding)  # noqa: E731
            tell: Callable[[int], None] = lambda done: sender.send(b"P", done.to_bytes(8, "little"))  # noqa: E731
            sender.send_object(_RESULT, work(RemoteWalker(sender), report, tell))  # type: ignore[arg-type]
        except _Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
            try:
                sender.send_object(_ERROR, ("exception", 0, exc))
            except _Cancelled:
                pass
        finally:
            try:  # the end, whatever happened: the calling thread never waits for ever
                sender._put(None)
            except _Cancelled:
                pass

    thread = threading.Thread(target=reader, name="snaptool-reader", daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    thread.start()
    try:
        return replay(iter(q.get, None), walker, result, progress)
    finally:
        cancelled.set()
        # Let a reader blocked on a full queue see the flag. One blocked in a
        # read (a stalled pipe: it sends nothing for QUIET seconds) is left
        # behind: it is a daemon thread, and its next message ends it.
        now = time.monotonic()
        deadline, heard = now + LINGER, now
        while thread.is_alive() and (now := time.monotonic()) < deadline and now - heard < QUIET:
            try:
                q.get(timeout=0.05)
                heard = time.monotonic()
            except queue.Empty:
                pass
        sys.setswitchinterval(interval)

