"""Every case in shared/cases gets the verdict Nomad itself reaches."""

from __future__ import annotations

import pytest

from snaptool.commands import inspect, verify
from snaptool.findings import FAILING

from .conftest import CASES, case_expectations, needs_shared

EXPECTED = case_expectations()

# The member (or layer) each failing case's first failing finding must name.
WHERE = {
    "bad-crc.snap": "gzip",
    "bad-empty-file.snap": "",
    "bad-enterprise-type-66.snap": "state.bin",
    "bad-extra-entry.snap": "tar",
    "bad-gnu-padded.snap": "tar",
    "bad-html-page.snap": "gzip",
    "bad-missing-sums.snap": "SHA256SUMS",
    "bad-plain-tar.snap": "gzip",
    "bad-record-truncated.snap": "state.bin",
    "bad-size-mismatch.snap": "meta.json",
    "bad-state-hash.snap": "state.bin",
    "bad-sums-star-marker.snap": "SHA256SUMS",
    "bad-sums-trailing-blank-line.snap": "SHA256SUMS",
    "bad-trailing-garbage.snap": "gzip",
    "bad-trailing-type-byte.snap": "state.bin",
    "bad-truncated-mid-state.snap": "gzip",
    "bad-unknown-type-99.snap": "state.bin",
}


@needs_shared
@pytest.mark.parametrize("name", sorted(EXPECTED) or ["(none)"])
def test_case_verdict(name: str) -> None:
    expected = EXPECTED[name]
    report = verify(CASES / name)
    assert report.ok is expected["ok"], [f.to_dict() for f in report.findings]
    if not expected["ok"]:
        first = next(f for f in report.findings if f.severity in FAILING)
        assert first.member == WHERE[name], first
        assert first.message


@needs_shared
@pytest.mark.parametrize(
    "name", sorted(n for n, e in EXPECTED.items() if "counts" in e) or ["(none)"]
)
def test_case_counts(name: str) -> None:
    rows = inspect(CASES / name).rows
    got = {str(r.number): r.count for r in rows}
    assert got == EXPECTED[name]["counts"]


@needs_shared
def test_every_case_file_has_an_expectation() -> None:
    files = {p.name for p in CASES.glob("*.snap")}
    assert files == set(EXPECTED)
    assert set(WHERE) == {n for n, e in EXPECTED.items() if not e["ok"]}
