"""SHA256SUMS: the canonical line, and Go's lenient way of reading it.

Nomad writes each line with ``fmt.Fprintf(w, "%x  %s\\n", sum, name)``
(:data:`SumsLine` declares that shape). It reads the entry with a
``bufio.Scanner`` (lines split on LF, one trailing CR dropped, a line of
64 KiB or more is an error) and ``fmt.Sscanf(line, "%x  %s", &sha, &file)``.
:func:`scan_line` reproduces that call: leading blanks are skipped, hex may be
of either case and any even length, the format's spaces match one or more
blanks, ``%s`` stops at the first blank and anything after it is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Const, Bytes, GreedyBytes, NullTerminated, Struct

__all__ = [
    "MAX_LINE",
    "SumsLine",
    "SumsScanError",
    "canonical_line",
    "scan_line",
    "split_lines",
]

#: ``bufio.MaxScanTokenSize``: a line this long or longer fails the scan.
MAX_LINE = 64 * 1024

#: What Nomad writes: 64 lowercase hex digits, two spaces, the name, LF.
SumsLine = Struct(
    "digest" / Bytes(64),
    Const(b"  "),
    "name" / NullTerminated(GreedyBytes, term=b"\n"),
)

# fmt's isSpace: the blank runes Go's scanner skips.
_SPACE_RANGES = (
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)

_HEX = "0123456789abcdefABCDEF"


class SumsScanError(ValueError):
    """The error ``fmt.Sscanf`` returns for a line (its text is Go's)."""


@dataclass(frozen=True)
class ScannedLine:
    digest: bytes
    name: str
    canonical: bool


def _is_space(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _SPACE_RANGES)


def split_lines(data: bytes) -> list[tuple[int, bytes]]:
    """Split as ``bufio.ScanLines`` does, with each line's byte offset: LF ends
    a line, one CR before it is dropped, and a final line without LF counts
    when it is not empty."""
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    out = []
    pos = 0
    for piece in pieces:
        out.append((pos, piece[:-1] if piece.endswith(b"\r") else piece))
        pos += len(piece) + 1
    return out


def scan_line(raw: bytes) -> ScannedLine:
    """``fmt.Sscanf(line, "%x  %s", &sha, &file)``, with Go's errors."""
    # Go decodes the input rune by rune; invalid UTF-8 becomes U+FFFD.
    text = raw.decode("utf-8", "replace")
    pos = 0
    n = len(text)

    # %x: skip blanks, then at least one hex byte.
    while pos < n and _is_space(text[pos]) and text[pos] != "\n":
        pos += 1
    if pos >= n:
        raise SumsScanError("EOF")
    digits = []
    while pos < n and text[pos] in _HEX:
        if pos + 1 >= n:
            raise SumsScanError("unexpected EOF")
        if text[pos + 1] not in _HEX:
            raise SumsScanError("illegal hex digit")
        digits.append(text[pos : pos + 2])
        pos += 2
    if not digits:
        raise SumsScanError("no hex data for %x string")

    # "  ": one or more blanks, or the end of the input.
    if pos < n and not _is_space(text[pos]):
        raise SumsScanError("expected space in input to match format")
    while pos < n and _is_space(text[pos]):
        pos += 1

    # %s: skip blanks, then the next word (none left is io.EOF).
    if pos >= n:
        raise SumsScanError("EOF")
    end = pos
    while end < n and not _is_space(text[end]):
        end += 1
    name = text[pos:end]
    digest = bytes.fromhex("".join(digits))
    canonical = len(digest) == 32 and raw == canonical_line(digest, name)[:-1]
    return ScannedLine(digest, name, canonical)


def canonical_line(digest: bytes, name: str) -> bytes:
    """The line Nomad writes for ``name``, with its LF."""
    return SumsLine.build({"digest": digest.hex().encode(), "name": name.encode()})
