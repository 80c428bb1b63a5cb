"""The state.bin record walker.

state.bin is one msgpack header value (Nomad writes ``0x80``, an empty map),
then records: one raw type byte, then exactly one msgpack value. There is no
length prefix and no count; end of data at a type byte is the only clean
end (``nomad/fsm.go`` ``restoreImpl``).

Strategy: bytes are pushed in with :meth:`StateWalker.feed` as the tar
reader produces them. One ``msgpack.Unpacker`` in feed mode frames the
records: the type byte is taken with ``read_bytes(1)`` (never decoded as
msgpack, so a type byte of 0x80 or more stays a type byte), the value is
stepped over with ``skip()``, which resumes across feeds. Records are never
decoded here and construct is never called per record. Per type the walker
keeps a count and a byte sum (as Nomad's inspect counts them: the type byte
included, the header added to the first record) and where the type was
first seen.

Callers that need each record (diff, filter) pass ``on_record``; with
``keep_raw`` it receives the record's exact bytes, and for ``decode_types``
the value decoded in place (``unpack`` instead of ``skip``), which needs no
copy of the bytes. Callers that hand records on in bulk (state export) pass
``on_block`` instead: it receives runs of whole records as one bytes object
each (:class:`Block`): feeds are walked in pieces of ``block_bytes``, and
after each piece the records it completed go out as one block. No per-record work is done here then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from ..findings import Finding
from ..values import ext_hook
from .stateparts import Block, OnBlock, OnRecord, RecordEvent, StateStats, TypeStats

__all__ = ["Block", "OnBlock", "OnRecord", "RecordEvent", "StateStats", "StateWalker", "TypeStats"]

#: With ``on_block``, feeds are walked in pieces of at most ``block_bytes``
#: (by default this many), and a block is sent after each.
BLOCK_BYTES = 1 << 20

#: The header Nomad writes: an empty msgpack map.
CANONICAL_HEADER = b"\x80"


#: msgpack's length limits at the largest length it can declare (a 32-bit count).
_ANY_LENGTH = dict.fromkeys(("max_str_len", "max_bin_len", "max_array_len", "max_map_len", "max_ext_len"), (1 << 32) - 1)


#: msgpack's 32-bit byte-length headers: str 32, bin 32, ext 32 (an array or
#: a map is walked element by element, without being held whole).
_DECLARED_32 = frozenset({0xDB, 0xC6, 0xC9})


class StateWalker:
    """Push parser over state.bin; findings go to ``report``."""

    def __init__(
        self,
        report: Callable[[Finding], None],
        *,
        max_record_size: int = 256 << 20,
        on_record: OnRecord | None = None,
        keep_raw: bool = False,
        record_types: frozenset[int] | None = None,
        decode_types: frozenset[int] = frozenset(),
        skip_records: bytes | bytearray = b"",
        on_block: OnBlock | None = None,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        if on_block is not None and on_record is not None:
            raise ValueError("on_record and on_block do not go together")
        self._on_block = on_block
        self._block_bytes = max(1, block_bytes)
        # the block being gathered: its first record and that record's offset
        self._block_first = 0
        self._block_start = 0
        if on_block is not None:
            keep_raw = True
        self._wanted = record_types
        # records whose index has a non-zero byte here are walked, not handed out
        self._skip = skip_records
        self._decode = decode_types
        self._value: Any = None
        self._report = report
        # raw=True: str and bin as bytes; arrays as tuples, so that an array used
        # as a map key (go-msgpack reads it as a byte string) still decodes
        # Lengths are limited by the buffer alone (BufferFull: the record size
        # limit), as skip() is: the decoding walk fails where the counting
        # walk does, with the same finding.
        self._up = msgpack.Unpacker(
            raw=True, use_list=False, strict_map_key=False, max_buffer_size=max_record_size, ext_hook=ext_hook,
            **_ANY_LENGTH,
        )
        self._max_record = max_record_size
        self._on_record = on_record
        self._keep_raw = keep_raw
        self._raw = bytearray()  # bytes from _raw_base on, when keep_raw
        self._raw_base = 0
        self._head = bytearray()  # the first bytes, for the header's report
        self._fed = 0
        self._before = b""  # the last bytes fed before the current piece (a 32-bit length header's worth)
        self._stopped = False
        self._counts = [0] * 257
        self._sums = [0] * 257
        self._first: dict[int, tuple[int, int]] = {}
        self._in_value = False
        self._type = 0
        self._start = 0
        # _walk_counting: the run of same-type records being counted (type,
        # start, index of its first record, count of its type before it); 256
        # is no type (the lists have a spare slot for it). _special: the types
        # that go to on_record.
        self._run = (256, 0, 0, 0)
        self._special = [
            on_record is not None and record_types is not None and t in record_types for t in range(257)
        ]
        self._emitting = False
        self.stats = StateStats()

    # -- feeding ---------------------------------------------------------

    def feed(self, data: bytes | memoryview) -> None:
        step = self._block_bytes
        if self._on_block is not None and len(data) > step:
            with memoryview(data) as view:  # blocks of about block_bytes
                for at in range(0, len(view), step):
                    self._feed(view[at : at + step])
            return
        self._feed(data)

    def _feed(self, data: bytes | memoryview) -> None:
        if self._stopped or not data:
            self._fed += len(data)
            return
        try:
            self._up.feed(data)
        except msgpack.BufferFull:
            self._too_large()
            return
        if self._keep_raw:
            self._raw += data
        if len(self._head) < 64:
            self._head += bytes(data[: 64 - len(self._head)])
        self._fed += len(data)
        if self.stats.header is None:
            if not self._read_header():
                return
        if self._on_record is None or self._wanted is not None:
            self._walk_counting()
        else:
            self._walk()
        if self._in_value and not self._stopped:
            self._refuse_if_declared_too_large(data)
        self._before = (self._before + bytes(data[-5:]))[-5:]
        if self._on_block is not None:
            self._send_block()
        elif self._keep_raw:
            # keep only the bytes of the record still being read
            cut = self._start if self._in_value else self._up.tell()
            del self._raw[: cut - self._raw_base]
            self._raw_base = cut

    def _refuse_if_declared_too_large(self, data: bytes | memoryview) -> None:
        """A record whose value declares more than the record size limit
        holds (a 32-bit string, binary or extension length) is refused as
        soon as its five header bytes are in, as the buffer limit would
        refuse it later, without buffering it up to the limit first. Decided
        once, in the piece that completes the header, on those bytes alone:
        the same answer however the data is cut into pieces."""
        at = self._start + 1  # the value's first byte
        base = self._fed - len(data)
        if not base < at + 5 <= self._fed:  # the header is not complete, or was decided before
            return
        if at >= base:
            head = bytes(data[at - base : at - base + 5])
        else:  # it began in earlier pieces: their last bytes are kept
            head = self._before[len(self._before) - (base - at) :] + bytes(data[: at + 5 - base])
        if head[0] in _DECLARED_32 and 1 + 5 + int.from_bytes(head[1:5], "big") > self._max_record:
            self._too_large()

    def _too_large(self) -> None:
        """The record being read cannot fit the record size limit."""
        self._fail(
            "state.record-too-large",
            f"record {self.stats.records} is larger than the record size limit ({self._max_record} bytes)",
        )

    def _read_header(self) -> bool:
        up = self._up
        try:
            header = up.unpack()
        except msgpack.OutOfData:
            return False
        except Exception as exc:  # noqa: BLE001 - msgpack raises several kinds
            self._fail("state.bad-header", f"the header is not valid msgpack ({_why(exc)})", offset=0)
            return False
        size = up.tell()
        self.stats.header_size = size
        self.stats.header = bytes(self._head[:size])
        self._block_start = size
        if self._keep_raw:
            del self._raw[:size]
            self._raw_base = size
        # Nomad decodes the header into an empty struct: a map (any keys), an
        # array (any elements) or nil all decode; anything else fails.
        if not isinstance(header, (dict, list, tuple)) and header is not None:
            self._fail(
                "state.bad-header",
                f"the header is a msgpack {type(header).__name__}; Nomad decodes it into "
                "an empty struct, which needs a map, an array or nil",
                offset=0,
            )
            return False
        if isinstance(header, dict) and not all(
            isinstance(k, bytes) or _byte_tuple(k) for k in header
        ):
            self._fail(
                "state.bad-header",
                "the header map has a key that is not a string; Nomad's decoder "
                "needs string keys for a struct",
                offset=0,
            )
            return False
        if isinstance(header, dict) and b"LastIndex" in header:
            # Only a hint: Nomad ignores the header's keys, and the records
            # decide (Consul's fail Nomad's typed restore; see Limitations).
            self._report(
                Finding(
                    "state.consul",
                    "the header looks like Consul's ({LastIndex: ...}): is this a Consul "
                    "snapshot? Consul records do not restore into Nomad",
                    member="state.bin",
                    offset=0,
                )
            )
        elif size != 1 or header != {}:
            self._report(
                Finding(
                    "state.header-noncanonical",
                    f"header is {size} bytes, Nomad writes 0x80 (an empty map)",
                    member="state.bin",
                    offset=0,
                )
            )
        return True

    def _walk(self) -> None:
        # The hot loop: a handful of C calls per record and list arithmetic;
        # state lives in locals and is stored back when the data runs out.
        up = self._up
        tell, skip, read = up.tell, up.skip, up.read_bytes
        counts, sums, first = self._counts, self._sums, self._first
        on_record = self._on_record
        wanted = self._wanted
        skipped, n_skipped = self._skip, len(self._skip)
        decode_types = self._decode
        unpack = up.unpack
        fed = self._fed
        n = self.stats.records
        start, t, in_value = self._start, self._type, self._in_value
        try:
            while True:
                if not in_value:
                    start = tell()
                    if fed - start < 1:
                        break
                    t = read(1)[0]
                    in_value = True
                try:
                    if t in decode_types:
                        self._value = unpack()
                    else:
                        skip()
                except msgpack.OutOfData:
                    break
                except Exception as exc:  # noqa: BLE001 - msgpack raises several kinds
                    self._undecodable(exc, t, n, start)
                    break
                end = tell()
                if not counts[t]:
                    first[t] = (n, start)
                counts[t] += 1
                sums[t] += end - start
                n += 1
                in_value = False
                if (
                    on_record is not None
                    and (wanted is None or t in wanted)
                    and not (n <= n_skipped and skipped[n - 1])
                ):
                    # outside the msgpack try: the caller's errors are its own
                    self._emit(on_record, n - 1, t, start, end)
                else:
                    self._value = None  # a value decoded for a record not handed out
        finally:
            self.stats.records = n
            self._start, self._type, self._in_value = start, t, in_value

    def _walk_counting(self) -> None:
        # The hot loop of verify and inspect. Per record: one tell(), the type
        # byte, one skip() and one list increment. Sizes are summed per run of
        # same-type records (Nomad writes each table as one run), and the
        # record index is kept per run: run_first is the index of the run's
        # first record, run_c0 its type's count then. Records of the types a
        # caller asked for (record_types) go through _take instead.
        up = self._up
        tell, skip, read = up.tell, up.skip, up.read_bytes
        counts, sums, first, special_types = self._counts, self._sums, self._first, self._special
        t, start = self._type, self._start
        cur, run_start, run_first, run_c0 = self._run
        special = special_types[cur]
        try:
            if self._in_value:
                if special:
                    self._take(t, start, run_first + counts[t] - run_c0)
                else:
                    skip()
                    counts[t] += 1
                self._in_value = False
            while True:
                start = tell()
                t = read(1)[0]  # IndexError: no byte left at a type position
                if t != cur:
                    sums[cur] += start - run_start
                    run_first += counts[cur] - run_c0
                    cur, run_start, run_c0 = t, start, counts[t]
                    special = special_types[t]
                    if not run_c0 and t not in first:
                        first[t] = (run_first, start)
                if special:
                    self._take(t, start, run_first + counts[t] - run_c0)
                    continue
                skip()
                counts[t] += 1
        except IndexError:
            pass
        except msgpack.OutOfData:
            self._in_value = True
        except Exception as exc:  # noqa: BLE001 - msgpack raises several kinds
            if self._emitting:  # the caller's callback failed: its error, not ours
                raise
            self._undecodable(exc, t, run_first + counts[cur] - run_c0, start)
        finally:
            self._type, self._start = t, start
            self._run = (cur, run_start, run_first, run_c0)
            self.stats.records = run_first + counts[cur] - run_c0

    def _undecodable(self, exc: Exception, t: int, n: int, start: int) -> None:
        """Record ``n`` is not msgpack: the walk stops inside it."""
        self.stats.pending = (t, n, start)
        self._fail(
            "state.undecodable",
            f"record {n} (type {t}) is not valid msgpack ({_why(exc)})",
            offset=start,
            record=n,
        )

    def _take(self, t: int, start: int, n: int) -> None:
        """Record ``n``, of a type the caller wants: decoded if asked,
        counted, and handed to ``on_record``."""
        up = self._up
        if t in self._decode:
            self._value = up.unpack()
        else:
            up.skip()
        self._counts[t] += 1
        self._in_value = False
        if self._on_record is not None and not (n < len(self._skip) and self._skip[n]):
            self._emitting = True
            try:
                self._emit(self._on_record, n, t, start, up.tell())
            finally:
                self._emitting = False
        else:
            self._value = None

    def _whole_end(self) -> int:
        """Where the records walked whole so far end: the start of a record
        in progress or of one that failed, else where the walk is."""
        if self._in_value or self.stats.pending is not None:
            return self._start
        return self._up.tell()

    def _send_block(self) -> None:
        """Hand the records walked whole since the last block to ``on_block``."""
        end = self._whole_end() if self.stats.header is not None else self._block_start
        if end <= self._block_start:
            return
        lo, hi = self._block_start - self._raw_base, end - self._raw_base
        with memoryview(self._raw) as view:  # one copy, and the view let go at once
            data = bytes(view[lo:hi])
        del self._raw[:hi]
        self._raw_base = end
        block = Block(self._block_first, self._block_start, data)
        self._block_first, self._block_start = self.stats.records, end
        assert self._on_block is not None
        self._on_block(block)

    def _close_run(self) -> None:
        """Add the last run's bytes, up to where the walk stopped: the start
        of a record in progress or of one that failed, or the end of data."""
        cur, run_start, run_first, run_c0 = self._run
        self._sums[cur] += self._start - run_start
        self._run = (cur, self._start, run_first, run_c0)

    def _emit(self, on_record: OnRecord, n: int, t: int, start: int, end: int) -> None:
        size = end - start
        raw = None
        if self._keep_raw:
            lo = start - self._raw_base
            with memoryview(self._raw) as view:  # one copy, and the view let go at once
                raw = bytes(view[lo + 1 : lo + size])
        value, self._value = self._value, None
        on_record(RecordEvent(n, t, start, size, raw, value, self._counts[t] - 1))

    def _collect(self) -> None:
        self._close_run()
        types = self.stats.types
        types.clear()
        for t, (index, offset) in sorted(self._first.items(), key=lambda kv: kv[1][0]):
            if self._counts[t]:  # not a type seen only in a record cut short
                types[t] = TypeStats(self._counts[t], self._sums[t], index, offset)

    # -- the end -----------------------------------------------------------

    def count(self, n: int) -> None:
        """``n`` more bytes of state.bin went by after the walk stopped."""
        self._fed += n

    def stop(self, code: str, message: str, *, offset: int | None = None) -> None:
        """Stop walking (a limit was reached); later data is ignored."""
        if not self._stopped:
            self._fail(code, message, offset=offset)

    def abandon(self) -> StateStats:
        """End the walk without judging it (the archive itself was cut off)."""
        self.stats.length = self._fed
        self._stopped = True
        self._collect()
        self._flush_block()
        return self.stats

    def _flush_block(self) -> None:
        if self._on_block is not None:
            self._send_block()

    def close(self) -> StateStats:
        """Call at the end of state.bin; reports a cut-off record or header."""
        stats = self.stats
        stats.length = self._fed
        self._collect()
        self._flush_block()
        if self._stopped:
            return stats
        if stats.header is None:
            if self._fed == 0:
                self._fail("state.empty", "state.bin is empty: no snapshot header", offset=0)
            else:
                self._fail(
                    "state.truncated",
                    f"state.bin ends inside its header ({self._fed} bytes)",
                    offset=0,
                )
            return stats
        if self._in_value:
            stats.pending = (self._type, stats.records, self._start)
            got = self._fed - self._start - 1
            what = "no value after it" if got == 0 else f"only {got} bytes of its value"
            self._fail(
                "state.truncated",
                f"record {stats.records} (type {self._type}) is cut short: "
                f"its type byte has {what}",
                offset=self._start,
                record=stats.records,
            )
            return stats
        if stats.records:
            first = min(stats.types.values(), key=lambda t: t.first_index)
            first.sum += stats.header_size
        stats.complete = True
        return stats

    def _fail(self, code: str, message: str, *, offset: int | None = None, record: int | None = None) -> None:
        self._stopped = True
        self._report(Finding(code, message, member="state.bin", offset=offset, record=record))


def _byte_tuple(v: object) -> bool:
    return isinstance(v, tuple) and all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 256 for x in v
    )


def _why(exc: Exception) -> str:
    text = str(exc)
    name = type(exc).__name__
    if name == "FormatError" or not text:
        return "reserved byte 0xc1 or invalid format" if name == "FormatError" else name
    return f"{name}: {text}"
