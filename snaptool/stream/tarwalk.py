"""A push-style tar reader with Go ``archive/tar`` semantics.

Decompressed bytes are fed in as they come; headers are decoded with
:mod:`snaptool.format.tar`; each entry's data is handed to a sink the caller
opens per entry. Nothing is extracted and nothing is buffered beyond one
header block, except the data of PAX and GNU long-name headers (1 MiB at
most, Go's own limit).

End-of-archive, as Go's reader sees it (``Reader.Next``):

* end of data where a header would start is a clean end, with or without the
  two zero blocks, and so is end of data inside an entry's block padding;
* one zero block followed by end of data is a clean end; followed by a
  non-zero block it is ``invalid tar header``;
* end of data inside a header or inside an entry's data is
  ``unexpected EOF``;
* after two zero blocks Go's reader stops, and Nomad counts what remains as
  ``N unread uncompressed bytes remain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..findings import Finding
from ..format.tar import BLOCK, ZERO_BLOCK, TarHeader, TarHeaderError, go_parse_int, parse_header, parse_pax

__all__ = ["Entry", "EntrySink", "TarWalker"]

#: Go's ``maxSpecialFileSize``: PAX and GNU long-name data above this fail.
MAX_SPECIAL = 1 << 20


class EntrySink(Protocol):
    def write(self, data: memoryview) -> None: ...

    def close(self, complete: bool) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One tar entry as Nomad's reader sees it."""

    index: int
    name: str
    offset: int  # tar-stream offset of its (first) header block
    size: int  # bytes of data Go's reader yields for it
    header: TarHeader
    pax: bool = False
    longname: bool = False


OpenEntry = Callable[[Entry], EntrySink]

_HEADER, _ZERO1, _DATA, _PAD, _SPECIAL, _END, _STOP = range(7)


class TarWalker:
    def __init__(
        self,
        open_entry: OpenEntry,
        report: Callable[[Finding], None],
        *,
        max_entries: int,
        max_unread: int,
        gzipped: bool = True,
    ) -> None:
        self._gzipped = gzipped
        self._open = open_entry
        self._report = report
        self._max_entries = max_entries
        self._max_unread = max_unread
        self._state = _HEADER
        self._block = bytearray()
        self._offset = 0  # tar offset of the next unconsumed byte
        self._remaining = 0
        self._sink: EntrySink | None = None
        self._current: Entry | None = None
        self._special = bytearray()
        self._special_header: TarHeader | None = None
        self._pending_pax: dict[str, str] = {}
        self._pending_name: bytes | None = None
        self._header_at = 0
        self.entries: list[Entry] = []
        self.end_blocks = 0
        self.unread = 0
        self.unread_capped = False
        self.stopped = False

    # -- feeding -------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        pos = 0
        n = len(view)
        while pos < n:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, n - pos)
                assert self._sink is not None
                self._sink.write(view[pos : pos + take])
                pos += take
                self._offset += take
                self._remaining -= take
                if self._remaining == 0:
                    self._finish_entry()
            elif state in (_PAD, _SPECIAL):
                take = min(self._remaining, n - pos)
                if state == _SPECIAL:
                    self._special += view[pos : pos + take]
                pos += take
                self._offset += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == _SPECIAL:
                        self._finish_special()
                    else:
                        self._state = _HEADER
            elif state in (_HEADER, _ZERO1):
                take = min(BLOCK - len(self._block), n - pos)
                self._block += view[pos : pos + take]
                pos += take
                self._offset += take
                if len(self._block) == BLOCK:
                    self._on_block(bytes(self._block))
                    self._block.clear()
            elif state == _END:
                self._count_unread(n - pos)
                return
            else:  # _STOP
                return

    def _count_unread(self, n: int) -> None:
        self.unread += n
        if self.unread > self._max_unread:
            # counted up to the limit: the same number however the data was
            # cut into pieces on its way here
            self.unread, self.unread_capped = self._max_unread, True
            self._state = _STOP

    def _on_block(self, block: bytes) -> None:
        at = self._offset - BLOCK
        if self._state == _ZERO1:
            if block == ZERO_BLOCK:
                self.end_blocks = 2
                self._state = _END
            else:
                self._stop(
                    "tar.bad-header",
                    "a zero block followed by a non-zero block",
                    at,
                    "archive/tar: invalid tar header",
                )
            return
        if block == ZERO_BLOCK:
            self.end_blocks = 1
            self._state = _ZERO1
            return
        try:
            header = parse_header(block)
        except TarHeaderError as exc:
            self._stop("tar.bad-header", f"invalid tar header ({exc})", at, "archive/tar: invalid tar header")
            return
        if self._pending_name is None and not self._pending_pax:
            self._header_at = at
        flag = header.typeflag
        if flag in (b"x", b"g", b"L", b"K"):
            if header.size > MAX_SPECIAL:
                self._stop(
                    "tar.bad-header",
                    f"typeflag {flag.decode()} header data of {header.size} bytes",
                    at,
                    "archive/tar: header field too long",
                )
                return
            self._special_header = header
            self._special.clear()
            self._remaining = _padded(header.size)
            self._special_size = header.size
            self._state = _SPECIAL
            if self._remaining == 0:
                self._finish_special()
            return
        self._start_entry(header)

    def _finish_special(self) -> None:
        header = self._special_header
        assert header is not None
        data = bytes(self._special[: self._special_size])
        self._state = _HEADER
        flag = header.typeflag
        if flag in (b"x", b"g"):
            try:
                records = parse_pax(data)
            except TarHeaderError as exc:
                self._stop("tar.bad-header", f"invalid PAX header ({exc})", self._header_at, "archive/tar: invalid tar header")
                return
            if flag == b"g":
                name = records.get("path", header.name)
                entry_header = header
                self._emit_entry(entry_header, name, 0, pax=True)
                self._finish_entry()
                return
            self._pending_pax.update(records)
        elif flag == b"L":
            self._pending_name = data.split(b"\x00", 1)[0]
        # 'K' (long link name) only affects the link target: nothing to keep.

    def _start_entry(self, header: TarHeader) -> None:
        name = header.name
        size = header.data_size
        pax = bool(self._pending_pax)
        longname = self._pending_name is not None
        if self._pending_name is not None:
            name = self._pending_name.decode("utf-8", "replace")
        if "path" in self._pending_pax:
            name = self._pending_pax["path"]
        if "size" in self._pending_pax:
            text = self._pending_pax["size"]
            pax_size = go_parse_int(text)
            if pax_size is None or pax_size < 0:
                shown = text if len(text) <= 40 else text[:40] + "..."
                self._stop("tar.bad-header", f"invalid PAX size {shown!r}", self._header_at, "archive/tar: invalid tar header")
                return
            if not (header.typeflag and header.typeflag[0] in b"123456"):
                size = pax_size
        self._pending_pax = {}
        self._pending_name = None
        self._emit_entry(header, name, size, pax=pax, longname=longname)

    def _emit_entry(self, header: TarHeader, name: str, size: int, *, pax: bool = False, longname: bool = False) -> None:
        if len(self.entries) >= self._max_entries:
            self._stop("limit.exceeded", f"more than {self._max_entries} tar entries", self._header_at, "")
            return
        entry = Entry(len(self.entries), name, self._header_at, size, header, pax, longname)
        self.entries.append(entry)
        self._current = entry
        self._sink = self._open(entry)
        self._remaining = size
        self._state = _DATA
        if size == 0:
            self._finish_entry()

    def _finish_entry(self) -> None:
        assert self._sink is not None and self._current is not None
        self._sink.close(True)
        self._sink = None
        self._remaining = (-self._current.size) % BLOCK
        self._state = _PAD if self._remaining else _HEADER

    def _stop(self, code: str, message: str, at: int, nomad: str) -> None:
        self._state = _STOP
        self.stopped = True
        self._report(Finding(code, message, member="tar", offset=at, nomad=nomad))

    # -- the end ---------------------------------------------------------------

    def close(self) -> None:
        """Call at the end of the decompressed stream."""
        state = self._state
        if state == _DATA:
            assert self._sink is not None and self._current is not None
            self._sink.close(False)
            entry = self._current
            got = entry.size - self._remaining
            self.stopped = True
            self._report(
                Finding(
                    "tar.truncated",
                    f"the archive ends inside {entry.name} after {got} of {entry.size} bytes",
                    member=entry.name,
                    offset=got,
                    nomad="unexpected EOF",
                )
            )
        elif state in (_HEADER, _ZERO1) and self._block:
            self.stopped = True
            self._report(
                Finding(
                    "tar.truncated",
                    f"the archive ends inside a tar header ({len(self._block)} of 512 bytes)",
                    member="tar",
                    offset=self._offset - len(self._block),
                    nomad="unexpected EOF",
                )
            )
        elif state == _SPECIAL:
            self.stopped = True
            self._report(
                Finding(
                    "tar.truncated",
                    "the archive ends inside a PAX or long-name header",
                    member="tar",
                    offset=self._header_at,
                    nomad="unexpected EOF",
                )
            )
        elif state == _END and self.unread and not self._gzipped:
            self._report(
                Finding(
                    "tar.trailing-padding",
                    f"{self.unread} bytes follow the tar end-of-archive blocks: Nomad's "
                    "tar reader stops before them, but gzipped like this the archive "
                    "is rejected",
                    member="tar",
                    offset=self._offset,
                )
            )
        elif state == _END and self.unread:
            self._report(
                Finding(
                    "tar.unread-bytes",
                    f"{self.unread}{'+' if self.unread_capped else ''} bytes follow the "
                    "tar end-of-archive blocks",
                    member="tar",
                    offset=self._offset,
                    nomad=f"{self.unread} unread uncompressed bytes remain",
                )
            )
        elif state == _STOP and self.unread_capped:
            self._report(
                Finding(
                    "tar.unread-bytes",
                    f"more than {self.unread} bytes follow the tar end-of-archive blocks "
                    "(counting stopped at the limit)",
                    member="tar",
                    offset=self._offset,
                    nomad="unread uncompressed bytes remain",
                )
            )

    @property
    def tar_length(self) -> int:
        return self._offset


def _padded(size: int) -> int:
    return size + (-size) % BLOCK
