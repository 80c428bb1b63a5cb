"""SHA256SUMS lines read as Go's fmt.Sscanf("%x  %s") reads them.

Expected outcomes are the [verified] rows of FORMAT-NOTES.md section 1.2.
"""

from __future__ import annotations

import pytest

from snaptool.format.sums import SumsScanError, canonical_line, scan_line, split_lines

H = "ab" * 32


@pytest.mark.parametrize(
    "line, name",
    [
        (f"{H}  meta.json", "meta.json"),
        (f"{H.upper()}  meta.json", "meta.json"),  # upper-case hex
        (f"{H} meta.json", "meta.json"),  # one space
        (f"{H}\tmeta.json", "meta.json"),  # a tab
        (f"  {H}  meta.json", "meta.json"),  # leading blanks
        (f"{H}  meta.json junk", "meta.json"),  # text after the name ignored
        (f"{H}  *meta.json", "*meta.json"),  # binary marker is part of the name
    ],
)
def test_accepted_lines(line: str, name: str) -> None:
    assert scan_line(line.encode()).name == name


@pytest.mark.parametrize(
    "line, error",
    [
        ("", "EOF"),
        ("   ", "EOF"),
        (f"{H}*meta.json", "expected space in input to match format"),
        (f"x{H}  meta.json", "no hex data for %x string"),
        (f"{H[:-1]}g  meta.json", "illegal hex digit"),
        (f"{H[:-1]}", "unexpected EOF"),
    ],
)
def test_rejected_lines(line: str, error: str) -> None:
    with pytest.raises(SumsScanError) as exc:
        scan_line(line.encode())
    assert str(exc.value) == error


def test_short_and_long_hash_scan_but_cannot_match() -> None:
    assert len(scan_line(b"abcd  meta.json").digest) == 2
    assert len(scan_line(("ab" * 40 + "  meta.json").encode()).digest) == 40


def test_canonical_line_is_what_nomad_writes() -> None:
    digest = bytes(range(32))
    assert canonical_line(digest, "state.bin") == digest.hex().encode() + b"  state.bin\n"
    assert scan_line(canonical_line(digest, "state.bin")[:-1]).canonical


def test_split_lines_like_bufio_scanner() -> None:
    assert split_lines(b"a\r\nb\nc") == [(0, b"a"), (3, b"b"), (5, b"c")]
    assert split_lines(b"a\n\n") == [(0, b"a"), (2, b"")]  # a blank last line counts
    assert split_lines(b"") == []
