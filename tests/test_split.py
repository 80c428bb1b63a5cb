"""The two-core readers (a reader thread, snaptool/stream/threaded.py, and a
forked reader, snaptool/stream/split.py) learn exactly what one thread
learns: the same findings in the same order, the same hashes, entries and
record statistics, and the same record events, on every fixture, every shared
case and a sample of the conformance mutations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snaptool.errors import InputError, SnaptoolError
from snaptool.stream import reader
from snaptool.stream.reader import scan

from .conftest import CASES, FIXTURES
from .conformance import mutate as M

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the two-process reader needs os.fork")

INPUTS = sorted(
    [p for p in FIXTURES.rglob("*.snap")]
    + ([p for p in CASES.iterdir() if p.suffix == ".snap"] if CASES.is_dir() else [])
)


def _facts(result: reader.ArchiveScan) -> dict[str, object]:
    facts = dict(vars(result))
    facts.pop("report", None)
    return facts


#: The ways to read on two cores.
TWO_CORES = ("thread", "fork")


def _both(path: Path, **kw: object) -> tuple[dict[str, object], dict[str, object]]:
    """What one thread learns, and what both two-core readers learn (they
    must agree with each other first)."""
    one = scan(path, split=False, **kw)  # type: ignore[arg-type]
    thread = _facts(scan(path, split="thread", **kw))  # type: ignore[arg-type]
    fork = _facts(scan(path, split="fork", **kw))  # type: ignore[arg-type]
    assert thread == fork
    return _facts(one), thread


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_two_cores_learn_what_one_learns(path: Path) -> None:
    one, two = _both(path)
    assert one == two
    assert one["findings"] is not None


def test_record_events_are_the_same(tmp_path: Path) -> None:
    path = FIXTURES / "synthetic" / "ok-canonical.snap"
    seen: dict[object, list[object]] = {False: [], "thread": [], "fork": []}
    for split in seen:
        scan(path, split=split, on_record=seen[split].append, keep_raw=True)  # type: ignore[arg-type]
    assert seen[False], "the fixture has records"
    assert seen[False] == seen["thread"] == seen["fork"]


def test_a_sample_of_conformance_mutations(tmp_path: Path) -> None:
    """Every 12th mutation (about 150 of them): bad gzip, tar, sums, meta and
    records, each read both ways."""
    from .test_conformance import VERDICTS

    sample = [mid for mid in sorted(VERDICTS)[::12] if VERDICTS[mid]["seed"] in M.seeds()]
    # about 150 with the shared seeds beside the checkout, 99 with the bundled ones alone
    assert len(sample) > 90
    for mid in sample:
        m = M.make(mid)
        path = tmp_path / "m.bin"
        path.write_bytes(m.data)
        one, two = _both(path, plain_tar=m.plain)
        assert one == two, mid


@pytest.mark.parametrize("split", TWO_CORES)
def test_callback_error_reaches_the_caller_and_the_reader_is_gone(split: str) -> None:
    import threading

    path = FIXTURES / "synthetic" / "ok-canonical.snap"
    threads = threading.active_count()
    interval = sys.getswitchinterval()

    class Stop(Exception):
        pass

    def fail(event: object) -> None:
        raise Stop("from the callback")

    with pytest.raises(Stop):
        scan(path, split=split, on_record=fail)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind
    assert threading.active_count() == threads  # no reader thread left behind
    assert sys.getswitchinterval() == interval


def test_a_reader_thread_blocked_on_a_full_queue_ends_with_the_scan(tmp_path: Path) -> None:
    """The callback fails at the first record of a 24 MiB state.bin: the
    reader thread, which has many chunks still to hand over, stops too."""
    import threading
    import time

    from snaptool.stream.writer import archive_bytes

    state = b"\x80" + (b"\x01\x81\xa1a\xa3xyz" * (3 << 20))
    meta = b'{"Version":1,"ID":"2-9-1","Index":9,"Term":2,"Size":%d}' % len(state)
    path = tmp_path / "big.snap"
    path.write_bytes(archive_bytes(meta, state))
    threads = threading.active_count()

    def fail(event: object) -> None:
        raise KeyError("stop here")

    started = time.monotonic()
    with pytest.raises(KeyError):
        scan(path, split="thread", on_record=fail)
    assert threading.active_count() == threads
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("split", TWO_CORES)
def test_read_error_in_the_reader_is_an_input_error(split: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = FIXTURES / "synthetic" / "ok-canonical.snap"

    def broken(f: object, report: object):  # the child inherits this patch
        raise OSError(5, "Input/output error")
        yield b""  # pragma: no cover - makes this a generator

    monkeypatch.setattr(reader, "inflate", broken)
    with pytest.raises(InputError, match="read failed: Input/output error"):
        scan(path, split=split)


def test_a_child_that_dies_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    path = FIXTURES / "synthetic" / "ok-canonical.snap"

    def die(f: object, report: object):
        os._exit(3)
        yield b""  # pragma: no cover

    monkeypatch.setattr(reader, "inflate", die)
    with pytest.raises(SnaptoolError, match="reader process ended without a result"):
        scan(path, split="fork")


@pytest.mark.parametrize("name", ["ok-canonical.snap"])
def test_cli_on_standard_input_prints_the_same(name: str) -> None:
    path = FIXTURES / "synthetic" / name
    out = {}
    for mode in ("0", "1", "fork"):
        with open(path, "rb") as f:
            out[mode] = subprocess.run(
                [sys.executable, "-m", "snaptool", "inspect", "--json", "-"],
                stdin=f, capture_output=True, env={**os.environ, "SNAPTOOL_SPLIT": mode}, check=False,
            )
    assert out["0"].returncode == out["1"].returncode == out["fork"].returncode == 0
    assert out["0"].stdout == out["1"].stdout == out["fork"].stdout
    assert b'"Records"' in out["0"].stdout or b'"Stats"' in out["0"].stdout


def test_split_is_chosen_by_size_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from snaptool.stream import split

    monkeypatch.delenv("SNAPTOOL_SPLIT", raising=False)
    assert split.wanted(False, 1 << 30) is False
    assert split.wanted(True, 10) is True
    monkeypatch.setenv("SNAPTOOL_SPLIT", "0")
    assert split.wanted(None, 1 << 30) is False
    monkeypatch.setenv("SNAPTOOL_SPLIT", "1")
    assert split.wanted(None, 10) is True
    monkeypatch.delenv("SNAPTOOL_SPLIT")
    assert split.wanted(None, 10) is False  # small files: one process
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert split.wanted(None, split.MIN_SIZE) is True
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert split.wanted(None, split.MIN_SIZE) is False  # one core: nothing to gain
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert split.choose(None, 1 << 30) == "thread"  # the faster of the two, by default
    assert split.choose(True, 10) == "thread"
    assert split.choose("fork", 10) == "fork"
    assert split.choose("one", 1 << 30) == "one"
    for env, mode in (("0", "one"), ("1", "thread"), ("thread", "thread"), ("fork", "fork"), ("FORK", "fork")):
        monkeypatch.setenv("SNAPTOOL_SPLIT", env)
        assert split.choose(None, 10) == mode, env
    monkeypatch.setenv("SNAPTOOL_SPLIT", "sideways")  # not a mode: the default choice
    assert split.choose(None, 10) == "one"
    assert split.choose(None, split.MIN_SIZE) == "thread"


def test_state_past_meta_size_is_counted_not_sent(tmp_path: Path) -> None:
    """After the walk stops at meta Size, the child sends only byte counts:
    the verdict and state.bin's length are still those of one process."""
    import json

    from snaptool.stream.writer import archive_bytes

    state = b"\x80" + (b"\x01\x80" * (3 << 20))  # 6 MiB of records, meta says 16 bytes
    meta = json.dumps({"Version": 1, "ID": "2-9-1", "Index": 9, "Term": 2, "Size": 16}).encode()
    path = tmp_path / "long.snap"
    path.write_bytes(archive_bytes(meta, state))
    one, two = _both(path)
    assert one == two
    assert two["state"].length == len(state)
    assert "state.past-meta-size" in {f.code for f in two["findings"]}


def test_background_returns_the_value_or_raises_the_error() -> None:
    from snaptool.stream.split import Background

    job = Background(lambda: {"pid": os.getpid(), "data": b"x" * (1 << 20)})
    value = job.result()
    assert value["data"] == b"x" * (1 << 20)
    assert value["pid"] != os.getpid()  # it ran in a child

    def fail() -> None:
        raise InputError("no such file", where="b.snap")

    with pytest.raises(InputError) as caught:
        Background(fail).result()
    assert str(caught.value) == "b.snap: no such file"  # where survives the trip


def test_background_in_one_process_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from snaptool.stream.split import Background

    monkeypatch.setenv("SNAPTOOL_SPLIT", "0")
    assert Background(os.getpid).result() == os.getpid()


def test_background_child_that_dies_or_is_not_wanted() -> None:
    import time

    from snaptool.stream.split import Background

    with pytest.raises(SnaptoolError, match="ended without a result"):
        Background(lambda: os._exit(3)).result()
    job = Background(lambda: time.sleep(60))
    started = time.monotonic()
    job.close()  # killed, not waited for
    assert time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_big_bare_state_file_is_hashed_on_a_thread(tmp_path: Path) -> None:
    import hashlib

    from snaptool.stream import split
    from snaptool.stream.forms import scan_state_file

    state = b"\x80" + b"\x01\x81\xa1a\xa3xyz" * ((split.MIN_SIZE // 8) + 1)
    path = tmp_path / "state.bin"
    path.write_bytes(state)
    result = scan_state_file(str(path))
    assert result.hashes["state.bin"] == hashlib.sha256(state).hexdigest()
    assert result.state is not None and result.state.records == (split.MIN_SIZE // 8) + 1


def test_a_bug_in_the_child_is_raised_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception in the reader child reaches the caller as the
    same exception, so the CLI's one-line 'internal error' is the same too."""
    path = FIXTURES / "synthetic" / "ok-canonical.snap"

    def broken(f: object, report: object):
        raise ValueError("invalid literal for int() with base 10: '--5'")
        yield b""  # pragma: no cover

    monkeypatch.setattr(reader, "inflate", broken)
    for split in (False, "thread", "fork"):
        with pytest.raises(ValueError, match="--5"):
            scan(path, split=split)  # type: ignore[arg-type]


def test_diff_cannot_read_standard_input_twice() -> None:
    from snaptool.diff import diff
    from snaptool.errors import UsageError

    with pytest.raises(UsageError, match="standard input"):
        diff("-", "-")


def test_a_reader_thread_that_ends_without_a_word_is_a_clear_error() -> None:
    from snaptool.stream import threaded
    from snaptool.stream.reader import ArchiveScan
    from snaptool.stream.statewalk import StateWalker

    result = ArchiveScan(path="x.snap")

    def silent(remote: object, forward: object, tell: object) -> object:
        raise threaded._Cancelled  # leaves without a result or an error

    with pytest.raises(SnaptoolError, match="reader thread ended without a result"):
        threaded.run(silent, StateWalker(result.report), result, None)  # type: ignore[arg-type]


def test_a_reader_thread_stuck_in_a_read_does_not_hold_the_caller(tmp_path: Path) -> None:
    """Ctrl-C while the input (a FIFO) stalls: the scan ends after the short
    linger, not when the writer goes on, and the reader thread, stuck in its
    read on a descriptor of its own, ends when the writer closes."""
    import signal
    import threading
    import time

    from snaptool.stream import threaded
    from snaptool.stream.writer import archive_bytes

    noise = os.urandom(100 << 15)  # 3.2 MiB that gzip cannot shrink
    state = b"\x80" + b"".join(b"\x01\xc4\x64" + noise[i : i + 100] for i in range(0, len(noise), 100))
    meta = b'{"Version":1,"ID":"2-9-1","Index":9,"Term":2,"Size":%d}' % len(state)
    data = archive_bytes(meta, state)
    fifo = tmp_path / "stalled.snap"
    os.mkfifo(fifo)
    stalled, release = threading.Event(), threading.Event()

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(data[: len(data) // 2])  # returns once the reader has read nearly all
            f.flush()
            stalled.set()
            release.wait(60)  # stalls until the test is over

    def interrupt() -> None:
        stalled.wait(60)
        time.sleep(1)  # the reader has read what there is and waits in a read
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does (interrupt_main wakes no wait)

    helpers = [threading.Thread(target=writer, daemon=True), threading.Thread(target=interrupt, daemon=True)]
    threads = threading.active_count()
    for t in helpers:
        t.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            scan(fifo, split="thread")
        assert time.monotonic() - started < threaded.LINGER + 20
        assert any(t.name == "snaptool-reader" for t in threading.enumerate())  # still in its read
    finally:
        release.set()
        for t in helpers:
            t.join()
    deadline = time.monotonic() + 30
    while any(t.name == "snaptool-reader" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [t.name for t in threading.enumerate()]
    assert len(left) == threads, left  # the writer closed: the reader (and its hashing thread) ended too


@pytest.mark.parametrize("split", [False, "thread", "fork"])
def test_records_that_have_arrived_on_a_pipe_are_walked_before_more_comes(tmp_path: Path, split) -> None:
    """A live `curl ... | snaptool state -`: the records in what has arrived
    are handed out while the writer pauses (a full 1 MiB read used to hold
    them back in one thread and in the forked reader)."""
    import threading
    import time

    from snaptool.stream.writer import archive_bytes

    noise = os.urandom(40000 * 50)  # records gzip cannot shrink
    state = b"\x80" + b"".join(b"\x01\xc4\x32" + noise[i : i + 50] for i in range(0, len(noise), 50))
    meta = b'{"Version":1,"ID":"2-9-1","Index":9,"Term":2,"Size":%d}' % len(state)
    source = tmp_path / "whole.snap"
    source.write_bytes(archive_bytes(meta, state))
    fifo = tmp_path / "live.snap"
    os.mkfifo(fifo)
    # the writer is another process, as it is in life: a forked reader must
    # not inherit the FIFO's write end
    writer = subprocess.Popen(
        [sys.executable, "-c", _PAUSING_WRITER, str(source), str(fifo)], stdin=subprocess.PIPE
    )
    seen: list[int] = []
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(scan(fifo, split=split, on_record=lambda ev: seen.append(ev.index)))
        except BaseException as exc:  # noqa: BLE001 - looked at below
            outcome.append(exc)

    reading = threading.Thread(target=run, daemon=True)
    reading.start()
    try:
        deadline = time.monotonic() + 10
        while len(seen) < 1000 and time.monotonic() < deadline:
            time.sleep(0.02)
        walked_while_paused = len(seen)
    finally:
        writer.communicate(b"go\n", timeout=30)
    reading.join(30)
    assert walked_while_paused >= 1000, walked_while_paused  # ~3,800 whole records had arrived
    assert outcome and not isinstance(outcome[0], BaseException), outcome
    assert len(seen) == 40000


_PAUSING_WRITER = """
import sys
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(data[:200_000])  # a fifth of a read's worth
    f.flush()
    sys.stdin.readline()
    f.write(data[200_000:])
"""


@pytest.mark.parametrize("mid", ["bitflip.gzip/g161acl/2", "bitflip.gzip/g161acl/8"])
def test_corrupt_deflate_is_reported_alike_however_the_file_is_read(tmp_path: Path, mid: str) -> None:
    """Where inflate fails is reported as the start of the piece it was
    reading: a regular file is cut into the same pieces in every mode (one
    mode once read its first 4 KiB alone and reported another offset)."""
    from .test_conformance import VERDICTS

    if VERDICTS[mid]["seed"] not in M.seeds():
        pytest.skip(f"the seed of {mid} is not on this machine")
    m = M.make(mid)
    path = tmp_path / "m.bin"
    path.write_bytes(m.data)
    one, two = _both(path, plain_tar=m.plain)
    assert one == two
