"""One pass on two cores, with a forked reader: a child process reads,
inflates, walks the tar and hashes; the parent walks state.bin's records.

This is the second way (``SNAPTOOL_SPLIT=fork``): a reader thread
(:mod:`snaptool.stream.threaded`) does the same without the pipe, and is
faster (ISA-L's inflate and hashlib let go of the GIL). The child runs the
ordinary pipeline of :mod:`snaptool.stream.reader` with a stand-in for the
record walker that forwards every call, in order, over one pipe: state.bin
bytes, a limit's stop, the walk's end. It forwards the findings of the
archive layers the same way, so the parent, which replays the messages as
they come, sees findings in exactly the order a single process raises them.
The child's last message is its :class:`~snaptool.stream.reader.ArchiveScan`;
the parent adds the findings and the walk's statistics.

Each message is a tag byte and a payload length, then the payload. The
parent reads state.bin bytes into one reused buffer (memory stays one chunk
per side). Record callbacks (state export, diff) run in the parent, so they
see the same events in the same order.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import struct
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import SnaptoolError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ..findings import Finding
    from .reader import ArchiveScan, Progress
    from .statewalk import StateStats, StateWalker

__all__ = ["Background", "RemoteWalker", "ThreadedHash", "run", "wanted"]

#: A message: tag, payload length.
_HEAD = struct.Struct("<cQ")
#: Inputs smaller than this are read in one process (a fork costs ~5 ms).
MIN_SIZE = 8 << 20

_DATA, _COUNT, _FINDING, _STOP, _CLOSE, _ABANDON, _PROGRESS, _RESULT, _ERROR = (
    b"D", b"N", b"F", b"S", b"C", b"A", b"P", b"R", b"X"
)


def wanted(split: bool | str | None, size: int) -> bool:
    """Whether to read on two cores (see :func:`choose`)."""
    return choose(split, size) != "one"


#: How a pass may read: in one thread, with a reader thread, with a forked reader.
MODES = ("one", "thread", "fork")


def choose(split: bool | str | None, size: int) -> str:
    """How to read an input of ``size`` bytes (0: unknown): ``one`` (one
    thread), ``thread`` (a reader thread beside the record walk, the way
    that is fastest where both work) or ``fork`` (a forked reader process).

    ``split`` decides if given (``True`` is ``thread``), else the environment's
    ``SNAPTOOL_SPLIT`` (``0`` one, ``1`` thread, or a mode's name), else: two
    cores or more and an input of :data:`MIN_SIZE` or more (or of unknown
    size) read with a thread; the rest in one."""
    if split is None:
        env = os.environ.get("SNAPTOOL_SPLIT", "").strip().lower()
        if env in ("0", "1") or env in MODES:
            split = {"0": False, "1": True}.get(env, env)
    if split is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        split = cores >= 2 and (size == 0 or size >= MIN_SIZE)
    if split is False or split == "one":
        return "one"
    if split == "fork" and hasattr(os, "fork"):
        return "fork"
    return "thread"


class _Sender:
    """The child's end of the pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, tag: bytes, payload: bytes | memoryview = b"") -> None:
        parts = [memoryview(_HEAD.pack(tag, len(payload))), memoryview(payload).cast("B")]
        while parts:
            done = os.writev(self.fd, parts)
            while parts and done >= len(parts[0]):
                done -= len(parts[0])
                parts.pop(0)
            if parts and done:
                parts[0] = parts[0][done:]

    def send_object(self, tag: bytes, value: object) -> None:
        self.send(tag, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class RemoteWalker:
    """Stands in for :class:`StateWalker` in the child: every call goes to
    the parent, whose real walker answers it."""

    def __init__(self, sender: _Sender) -> None:
        self._send = sender
        self._stopped = False

    def feed(self, data: bytes | memoryview) -> None:
        if self._stopped:  # the walk is over: only the length still counts
            self._send.send(_COUNT, len(data).to_bytes(8, "little"))
        else:
            self._send.send(_DATA, data)

    def stop(self, code: str, message: str, *, offset: int | None = None) -> None:
        self._stopped = True
        self._send.send_object(_STOP, (code, message, offset))

    def close(self) -> None:
        self._send.send(_CLOSE)

    def abandon(self) -> None:
        self._send.send(_ABANDON)


#: The child's work: given the stand-in walker, a report function and a
#: progress function, read the archive and return what it found.
Work = Callable[[RemoteWalker, Callable[["Finding"], None], "Progress"], "ArchiveScan"]


def run(work: Work, walker: StateWalker, result: ArchiveScan, progress: Progress | None) -> ArchiveScan:
    """Fork; the child does ``work``, the parent walks records with
    ``walker`` and collects findings into ``result``. Returns the child's
    scan, completed with the parent's findings and walk."""
    rfd, wfd = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(wfd, 1031, 1 << 20)  # F_SETPIPE_SZ: fewer wake-ups per MiB
    except (ImportError, OSError):  # pragma: no cover - not Linux, or capped
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child (coverage sees the parent)
        os.close(rfd)
        _child(wfd, work)
    os.close(wfd)
    try:
        with open(rfd, "rb", buffering=1 << 16) as pipe:
            return replay(_pipe_messages(pipe), walker, result, progress)
    except BaseException:
        _kill(pid)  # the parent stops early (an error, a callback's abort, Ctrl-C)
        raise
    finally:
        os.waitpid(pid, 0)


def _child(fd: int, work: Work) -> None:  # pragma: no cover - runs in the child
    """Do the work, send the result, and leave without running the parent's
    clean-ups (``os._exit``): its files and buffers are not the child's."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it
        sender = _Sender(fd)
        try:
            def report(finding: Finding) -> None:
                sender.send_object(_FINDING, finding)

            def tell(done: int) -> None:
                sender.send(_PROGRESS, done.to_bytes(8, "little"))

            sender.send_object(_RESULT, work(RemoteWalker(sender), report, tell))
        except (BrokenPipeError, KeyboardInterrupt):
            code = 1  # the parent has gone or was interrupted: nobody to tell
        except OSError as exc:
            sender.send_object(_ERROR, ("os", exc.errno, exc.strerror or str(exc)))
        except Exception as exc:  # noqa: BLE001 - the parent raises it, as one process would
            try:
                sender.send_object(_ERROR, ("exception", 0, exc))
            except Exception:  # noqa: BLE001 - it does not pickle: its text then
                sender.send_object(_ERROR, ("bug", 0, traceback.format_exc()))
    except BaseException:  # noqa: BLE001 - the pipe itself failed
        code = 1
    finally:
        os._exit(code)


class ThreadedHash:
    """SHA-256 on a thread of its own: hashlib lets go of the GIL while it
    hashes, so in the child it runs beside the inflate, and the three costs
    of a pass (inflate, hash, record walk) spread over two cores. At most
    :data:`DEPTH` pieces wait; pieces of mutable buffers are copied first."""

    DEPTH = 4

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.h = hashlib.sha256()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snaptool-sha256")
        self.waiting: deque[Future[None]] = deque()

    def update(self, data: bytes | memoryview) -> None:
        if isinstance(data, memoryview) and not isinstance(data.obj, bytes):
            data = bytes(data)
        if len(self.waiting) >= self.DEPTH:
            self.waiting.popleft().result()
        self.waiting.append(self.pool.submit(self.h.update, data))

    def hexdigest(self) -> str:
        self.pool.shutdown(wait=True)
        for done in self.waiting:
            done.result()
        return self.h.hexdigest()

    def close(self) -> None:
        """End the hashing thread (at once if nothing waits): a pass that
        stops early leaves no thread behind."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def _pipe_messages(pipe: Any) -> Iterator[tuple[bytes, Any]]:
    """The child's messages, decoded: state.bin bytes as a view of one reused
    buffer (valid until the next message), numbers as ints, the rest
    unpickled."""
    buf = bytearray(1 << 20)
    head = bytearray(_HEAD.size)
    while True:
        if pipe.readinto(head) != _HEAD.size:
            raise SnaptoolError("snaptool's reader process ended without a result (killed?)")
        tag, size = _HEAD.unpack(head)
        if tag == _DATA:
            if size > len(buf):
                buf = bytearray(size)
            view = memoryview(buf)[:size]
            if pipe.readinto(view) != size:
                raise SnaptoolError("snaptool's reader process ended in the middle of a message")
            yield tag, view
            continue
        payload = pipe.read(size)
        if len(payload) != size:
            raise SnaptoolError("snaptool's reader process ended in the middle of a message")
        if tag in (_COUNT, _PROGRESS):
            yield tag, int.from_bytes(payload, "little")
        elif tag == _CLOSE or tag == _ABANDON:
            yield tag, None
        else:
            yield tag, pickle.loads(payload)


def replay(
    messages: Iterator[tuple[bytes, Any]], walker: StateWalker, result: ArchiveScan, progress: Progress | None
) -> ArchiveScan:
    """Answer the reader's messages, in order, with the real walker; return
    its scan, completed with the findings and the walk's statistics."""
    state: StateStats | None = None
    for tag, payload in messages:
        if tag == _DATA:
            walker.feed(payload)
        elif tag == _COUNT:
            walker.count(payload)
        elif tag == _FINDING:
            result.report(payload)
        elif tag == _PROGRESS:
            if progress is not None:
                progress(payload)
        elif tag == _STOP:
            code, message, offset = payload
            walker.stop(code, message, offset=offset)
        elif tag == _CLOSE:
            state = walker.close()
        elif tag == _ABANDON:
            state = walker.abandon()
        elif tag == _RESULT:
            scan: ArchiveScan = payload
            scan.findings = result.findings
            scan.state = state
            return scan
        elif tag == _ERROR:
            kind, errno, detail = payload
            if kind == "os":
                raise OSError(errno, detail)
            if kind == "exception":
                raise detail
            raise RuntimeError(f"snaptool's reader process failed:\n{detail}")
        else:
            raise RuntimeError(f"snaptool's reader process sent an unknown message {tag!r}")
    raise SnaptoolError("snaptool's reader thread ended without a result")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Background:
    """``work()`` in a forked child while the caller goes on; :meth:`result`
    waits for its value (pickled over a pipe) or raises its exception. Where
    there is no ``fork``, or ``SNAPTOOL_SPLIT=0``, ``work()`` runs at once in
    this process. :meth:`close` kills a child whose result is not wanted."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._pid = 0
        self._outcome: tuple[bool, Any] | None = None
        if not hasattr(os, "fork") or os.environ.get("SNAPTOOL_SPLIT") == "0":
            try:
                self._outcome = (True, work())
            except Exception as exc:  # noqa: BLE001 - handed to result()
                self._outcome = (False, exc)
            return
        rfd, wfd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(rfd)
            _background_child(wfd, work)
        os.close(wfd)
        self._pid, self._pipe = pid, open(rfd, "rb")

    def result(self) -> Any:
        if self._outcome is None:
            data = self._pipe.read()
            self.close()
            if not data:
                raise SnaptoolError("snaptool's worker process ended without a result (killed?)")
            self._outcome = pickle.loads(data)
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if self._pid:
            self._pipe.close()
            _kill(self._pid)
            os.waitpid(self._pid, 0)
            self._pid = 0


def _background_child(fd: int, work: Callable[[], Any]) -> None:  # pragma: no cover - in the child
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            outcome: tuple[bool, Any] = (True, work())
        except Exception as exc:  # noqa: BLE001 - handed to the parent
            outcome = (False, exc)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            data = pickle.dumps((False, RuntimeError(traceback.format_exc())))
        with open(fd, "wb") as out:
            out.write(data)
    except BaseException:  # noqa: BLE001 - the parent has gone, or Ctrl-C
        code = 1
    finally:
        os._exit(code)
