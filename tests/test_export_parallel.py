"""``snaptool state`` rendered fast, in blocks and by forked workers: the same
bytes as the reference renderer (render_stored / render_document and
``json.dumps``), the same errors, and no hang when a worker dies.

Workers are forced with ``SNAPTOOL_JOBS=2`` and tiny blocks, so even the
small fixtures are cut into many blocks that both workers write in turn.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
from datetime import datetime, timedelta

import msgpack
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snaptool.export import export_document, export_lines, iter_records
from snaptool.export import blockscan, fastrender, parallel
from snaptool.export.fastrender import (
    RISKY_FLOAT,
    BlockOptions,
    _doc_reference,
    _line_reference,
    render_entries,
    render_lines,
)
from snaptool.export.pretty import indented
from snaptool.stream.writer import archive_bytes
from snaptool.values import decode, go_time_bytes

from .conftest import FIXTURES, REPO

SNAPS = sorted((FIXTURES / "genuine").glob("*.snap")) + sorted((FIXTURES / "synthetic").glob("*.snap"))


def _snap(tmp_path, records: list[tuple[int, bytes]], name: str = "t.snap"):
    state = b"\x80" + b"".join(bytes([t]) + raw for t, raw in records)
    meta = (
        b'{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Peers":null,"Configuration":{"Servers":null},'
        b'"ConfigurationIndex":0,"Size":%d}\n' % len(state)
    )
    path = tmp_path / name
    path.write_bytes(archive_bytes(meta, state))
    return path


def _run(fn, path, tmp_path, jobs: str, **kw) -> tuple[bytes, BaseException | None]:
    """``fn`` writing into a real file (workers write to its descriptor)."""
    os.environ["SNAPTOOL_JOBS"] = jobs
    out_path = tmp_path / f"out-{jobs}"
    error = None
    try:
        with open(out_path, "w", encoding="utf-8") as out:
            try:
                fn(path, out, **kw)
            except Exception as exc:  # noqa: BLE001 - compared below
                error = exc
    finally:
        del os.environ["SNAPTOOL_JOBS"]
    return out_path.read_bytes(), error


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 300)


@pytest.mark.parametrize("snap", SNAPS, ids=lambda p: p.name)
@pytest.mark.parametrize("kw", [{}, {"show_secrets": True}], ids=["masked", "secrets"])
def test_workers_print_the_same_bytes(snap, kw, tmp_path, small_blocks):
    for fn in (export_lines, export_document):
        one, e1 = _run(fn, snap, tmp_path, "1", **kw)
        two, e2 = _run(fn, snap, tmp_path, "2", **kw)
        assert e1 is None and e2 is None
        assert one == two and one


@pytest.mark.parametrize("snap", SNAPS[:4], ids=lambda p: p.name)
def test_fast_lines_equal_the_reference_renderer(snap):
    """The block renderer against the record-by-record reference path."""
    expected: list[str] = []

    def emit(r) -> None:
        line = {"Index": r.event.index, "Type": r.name, "TypeNumber": r.event.type, "Offset": r.event.offset,
                "Size": r.event.size, "Value": r.json_value}
        expected.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")

    iter_records(snap, emit)
    buf = io.StringIO()
    export_lines(snap, buf)
    assert buf.getvalue() == "".join(expected)


def test_a_failing_record_stops_both_ways_at_the_same_place(tmp_path, small_blocks, monkeypatch):
    good = [(3, msgpack.packb({"ID": f"e{i}", "Namespace": "default", "Status": "complete"})) for i in range(40)]
    bad = (3, b"\x81\x01\x01")  # an int key: the fast path hands it to the reference path
    real = fastrender.decode

    def decode(raw):  # the forked workers inherit this
        if raw == bad[1]:
            raise TypeError("this record cannot be decoded")
        return real(raw)

    monkeypatch.setattr(fastrender, "decode", decode)
    snap = _snap(tmp_path, [*good, bad, *good])
    for fn, lines in ((export_lines, 40), (export_document, 0)):  # the document writes nothing
        one, e1 = _run(fn, snap, tmp_path, "1")
        two, e2 = _run(fn, snap, tmp_path, "2")
        assert type(e1) is type(e2) is TypeError and str(e1) == str(e2)
        assert one == two and one.count(b"\n") == lines


def test_a_dead_worker_is_an_error_not_a_hang(tmp_path, small_blocks, monkeypatch):
    snap = _snap(tmp_path, [(3, msgpack.packb({"ID": f"e{i}"})) for i in range(200)])

    def dies(records, opts):
        if records[0][0] > 50:
            os.kill(os.getpid(), signal.SIGKILL)
        return [], None

    monkeypatch.setattr(parallel, "render_lines", dies)
    _, error = _run(export_lines, snap, tmp_path, "2")
    assert isinstance(error, parallel.WorkerError)
    assert "killed by signal 9" in str(error)


def test_a_refused_fork_leaves_no_worker_behind(tmp_path, monkeypatch):
    snap = _snap(tmp_path, [(3, msgpack.packb({"ID": "e"}))])
    real_fork, calls = os.fork, []

    def second_fails() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_fork()

    monkeypatch.setattr(os, "fork", second_fails)
    _, error = _run(export_lines, snap, tmp_path, "2")
    assert isinstance(error, BlockingIOError)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the first worker was reaped


# The CLI with one record that cannot be rendered: no record Nomad can write
# fails any more, so the failure is injected into the reference renderer (the
# record has an int key, which the fast path hands to it).
_FAILING_CLI = """
import sys
from snaptool.export import fastrender
real = fastrender.decode
bad = bytes.fromhex(sys.argv[1])
def decode(raw):
    if raw == bad:
        raise TypeError("this record cannot be decoded")
    return real(raw)
fastrender.decode = decode
sys.argv = ["snaptool", "state", sys.argv[2]]
from snaptool._entry import main
main()
"""


def test_cli_same_output_and_error_line(tmp_path):
    good = [(1, msgpack.packb({"ID": f"j{i}", "Namespace": "default", "Payload": "x" * 2000})) for i in range(600)]
    failing = msgpack.packb({1: 1})
    ok = _snap(tmp_path, good, "ok.snap")
    bad = _snap(tmp_path, [*good, (1, failing)], "bad.snap")
    runs = {}
    for jobs in ("1", "2"):
        env = dict(os.environ, SNAPTOOL_JOBS=jobs)
        for snap in (ok, bad):
            runs[jobs, snap.name] = subprocess.run(
                [sys.executable, "-c", _FAILING_CLI, failing.hex(), str(snap)], capture_output=True, env=env, cwd=REPO
            )
    for name in ("ok.snap", "bad.snap"):
        one, two = runs["1", name], runs["2", name]
        assert (one.returncode, one.stdout, one.stderr) == (two.returncode, two.stdout, two.stderr)
    assert runs["2", "ok.snap"].returncode == 0
    assert runs["2", "bad.snap"].returncode == 2
    assert runs["2", "bad.snap"].stderr.decode().count("\n") == 1
    assert b"this record cannot be decoded" in runs["2", "bad.snap"].stderr
    assert runs["2", "bad.snap"].stdout.count(b"\n") == 600  # the records before it


def test_cli_closed_pipe_ends_by_sigpipe(tmp_path):
    records = [(1, msgpack.packb({"ID": f"j{i}", "Payload": "y" * 3000})) for i in range(3000)]
    snap = _snap(tmp_path, records)
    env = dict(os.environ, SNAPTOOL_JOBS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "snaptool", "state", str(snap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGPIPE
    assert err == b""


# -- the renderers, property by property -------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(_json, st.integers(0, 3), st.integers(0, 4))
def test_indented_is_json_dumps(value, level, indent):
    expected = json.dumps(value, ensure_ascii=False, indent=indent).replace("\n", "\n" + " " * indent * level)
    assert indented(value, level, indent) == expected


@pytest.mark.parametrize("value", [float("nan"), [1, float("inf")], {"a": -float("inf")}, {"a": [{"b": float("nan")}]}])
def test_indented_refuses_what_json_cannot_hold(value):
    """NaN and infinities are not JSON: the writer refuses them, and state's
    reference path prints them as strings instead."""
    from snaptool.export.pretty import Unprintable

    with pytest.raises((Unprintable, ValueError)):
        indented(value, 1, 2)


def _go_time(secs: int, nanos: int, offset: int) -> bytes:
    return b"\x01" + struct.pack(">qih", secs, nanos, offset)


_str = st.one_of(
    st.binary(max_size=20),
    st.builds(_go_time, st.integers(0, 315537897599), st.integers(0, 10**9 - 1), st.sampled_from([-1, 0, 60, -1440])),
    st.sampled_from([b"", b"\x01", b"\x02ab", b"\x00", "é✓".encode()]),
)
_key = st.one_of(st.sampled_from([b"ID", b"Payload", b"SecretID", b"Job", b"Data", b"Hash", b"CIDR", b"MBits",
                                  b"Hostname", b"WrappedKeys", b"KeyEncryptionKey", b"\xff",
                                  # Nomad's time fields (the fast path's schema plan), a key like a time
                                  b"TaskStates", b"StartedAt", b"WaitUntil", b"AllocStates", b"Time",
                                  b"RelatedEvals", b"\x01k"]), st.integers(0, 3))
_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | _str,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=12,
)


def _pack(value) -> bytes:
    return msgpack.packb(value, use_bin_type=False)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0, 1, 3, 4, 9, 12, 18, 22, 26, 30, 64, 99]), _value, st.booleans())
def test_fast_blocks_equal_the_reference(type_number, value, show_secrets):
    rec = (0, type_number, 1, 10, _pack(value))
    for document in (False, True):
        _assert_fast_is_reference(rec, BlockOptions(document=document, show_secrets=show_secrets))


def _assert_fast_is_reference(rec, opts: BlockOptions) -> None:
    """A block of one record renders as the reference path renders it, or
    fails with the same error."""
    reference = _doc_reference if opts.document else _line_reference
    try:
        expected, error = [x for x in [reference(rec, opts)] if x is not None], None
    except Exception as exc:  # noqa: BLE001 - compared below
        expected, error = [], exc
    got, got_error = (render_entries if opts.document else render_lines)([rec], opts)
    assert got == expected
    assert repr(got_error) == repr(error)


#: Records shaped as Nomad writes them, times where the schema has them
#: (and anything else there too): the fast path's plan meets them.
_record = st.fixed_dictionaries(
    {"ID": _str},
    optional={
        "TaskStates": st.dictionaries(st.sampled_from(["web", "\udcff"]), st.fixed_dictionaries(
            {"StartedAt": _str | _value}, optional={"FinishedAt": _str, "Events": _value}), max_size=2)
        | _value,
        "AllocStates": st.lists(st.fixed_dictionaries({"Time": _str | _value}), max_size=2),
        "WaitUntil": _str | _value,
        "RelatedEvals": st.lists(st.fixed_dictionaries({"WaitUntil": _str}), max_size=2) | _value,
        "Score": st.floats() | st.lists(st.floats(), max_size=3),
        "Meta": st.dictionaries(_key, _value, max_size=3),
    },
)


#: A Go time whose bytes are all UTF-8 (zone offset 0): a str starting
#: with byte 1 that orjson can write, where the schema has no time.
_UTF8_TIME = _go_time(0x0E1F2F3F4F, 0, 0)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([3, 4, 1]), _record, st.booleans())
@example(3, {"ID": b"x", "Score": float("nan")}, False)
@example(4, {"ID": b"x", "Score": [1e-05, 2.5e16]}, False)
@example(1, {"ID": b"x", "Score": [0.5, float("-inf")]}, False)
@example(4, {"ID": b"x", "Meta": {"Other": _UTF8_TIME}, "TaskStates": {"web": {"StartedAt": _UTF8_TIME}}}, True)
def test_fast_blocks_of_record_shapes_equal_the_reference(type_number, value, show_secrets):
    rec = (0, type_number, 1, 10, msgpack.packb(value, use_bin_type=False, unicode_errors="surrogateescape"))
    for document, indent in ((False, 2), (True, 2), (True, 3)):
        _assert_fast_is_reference(rec, BlockOptions(document=document, show_secrets=show_secrets, indent=indent))


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_orjson_writes_a_float_as_json_does_or_the_fast_path_sees_it(f):
    # the fast path lets orjson write floats unless RISKY_FLOAT matches
    value = {"a": [f], "b": f}
    got = orjson.dumps(value)
    assert got == json.dumps(value, separators=(",", ":")).encode() or RISKY_FLOAT.search(got)
    got = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    assert got == json.dumps(value, indent=2).encode() or RISKY_FLOAT.search(got)


@given(st.binary(max_size=40))
def test_decode_escapes_as_surrogateescape(data):
    raw = msgpack.packb(data, use_bin_type=False)
    assert decode(raw) == msgpack.unpackb(raw, raw=False, unicode_errors="surrogateescape")


@given(st.integers(0, 315537897599), st.integers(0, 10**9 - 1))
def test_go_time_text_against_datetime(secs, nanos):
    moment = datetime(1, 1, 1) + timedelta(seconds=secs)
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    assert go_time_bytes(_go_time(secs, nanos, -1)) == text + "Z"


@pytest.mark.parametrize(
    ("secs", "nanos", "offset", "expected"),
    [
        # Go 1.26's time.Time.UnmarshalBinary then Format(time.RFC3339Nano) of
        # the same bytes (encoding/json prints the first, refuses the others)
        (0, 0, -60, "0000-12-31T23:00:00-01:00"),
        (0, 5, -1440, "0000-12-31T00:00:00.000000005-24:00"),
        (315537897599, 0, 60, "10000-01-01T00:59:59+01:00"),
        (315537897599, 120, 1440, "10000-01-01T23:59:59.00000012+24:00"),
    ],
)
def test_a_zone_that_moves_a_time_out_of_years_1_to_9999_prints_as_go_formats_it(secs, nanos, offset, expected):
    # found by the fresh tester: state stopped with an internal OverflowError
    assert go_time_bytes(_go_time(secs, nanos, offset)) == expected
    rec = (0, 4, 1, 10, _pack({"ID": b"x", "TaskStates": {b"web": {b"StartedAt": _go_time(secs, nanos, offset)}}}))
    lines, error = render_lines([rec], BlockOptions())
    assert error is None
    assert json.loads(lines[0])["Value"]["TaskStates"]["web"]["StartedAt"] == expected
    _assert_fast_is_reference(rec, BlockOptions())
    _assert_fast_is_reference(rec, BlockOptions(document=True))


@pytest.mark.parametrize(
    ("offset", "extra", "expected"),
    [
        # version-2 times (16 bytes) at seconds 63850000000: Go 1.26's
        # UnmarshalBinary then Format(time.RFC3339Nano), also what encoding/json writes
        (-1, 30, "2024-04-29T15:06:10+00:00"),  # -1 minute + 30 s is not UTC
        (-1, 0, "2024-04-29T15:06:40Z"),
        (0, 30, "2024-04-29T15:07:10+00:00"),
        (-60, 30, "2024-04-29T14:07:10-00:59"),
        (60, 59, "2024-04-29T16:07:39+01:00"),
        (-1, 255, "2024-04-29T15:09:55+00:03"),
    ],
)
def test_version_2_times_print_as_go_formats_them(offset, extra, expected):
    data = b"\x02" + struct.pack(">qih", 63850000000, 0, offset) + bytes([extra])
    assert go_time_bytes(data) == expected


def test_workers_are_chosen_by_size_cores_and_environment(tmp_path, monkeypatch):
    """Small files render in process; big ones, and inputs of unknown size
    (standard input, a FIFO), on workers where there are two cores."""
    monkeypatch.delenv("SNAPTOOL_JOBS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    small, big = tmp_path / "small.snap", tmp_path / "big.snap"
    small.write_bytes(b"x" * 100)
    with open(big, "wb") as f:
        f.truncate(blockscan.PARALLEL_MIN_BYTES)
    fifo = tmp_path / "pipe.snap"
    os.mkfifo(fifo)
    assert blockscan.jobs_for(small) == 1
    assert blockscan.jobs_for(tmp_path / "missing.snap") == 1  # the scan says why, without workers
    assert blockscan.jobs_for(big) == 2
    assert blockscan.jobs_for("-") == 2
    assert blockscan.jobs_for(fifo) == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert blockscan.jobs_for(big) == 1
    monkeypatch.setenv("SNAPTOOL_JOBS", "3")
    assert blockscan.jobs_for(small) == 3


def test_a_closed_output_is_the_error_even_when_the_next_worker_ends_first(monkeypatch):
    """The worker that meets a closed output stops passing the turn; the
    next one, its turn pipe closed, ends without a report. Whichever status
    pipe the parent reads first, the closed output is what it reports (a
    worker's "exit before finishing its block" was raised one run in 50)."""
    import select as select_mod
    import time

    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads the output: writes fail with EPIPE
    real_select = select_mod.select
    waited = []

    def later_fds_first(r, w, x, *timeout):
        if not waited and not w:  # let both workers finish first
            time.sleep(0.5)
            waited.append(True)
        ready = real_select(r, w, x, *timeout)
        return (sorted(ready[0], reverse=True), ready[1], ready[2])

    monkeypatch.setattr(parallel.select, "select", later_fds_first)
    raw = msgpack.packb({"ID": "e"})
    pool = parallel.WorkerPool(2, BlockOptions(), write_end, "strict", None)
    try:
        with pytest.raises(BrokenPipeError):  # read while handing out the second block, or at the end
            for block in range(2):
                pool.put([(block, 3, 1 + block * (len(raw) + 1), len(raw) + 1, raw)])
            pool.finish()
    finally:
        pool.abort()
        os.close(write_end)
