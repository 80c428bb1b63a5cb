"""Genuine archives from a real Nomad (fixtures/genuine): snaptool agrees with
Nomad's own outputs recorded beside each archive.

Goldens, all produced by Nomad code (tests/harness, tests/oracle):
- ``<name>.inspect.txt``: ``nomad operator snapshot inspect`` of that version
  (1.6.1 and older print ID, Size, Index, Term and Version only);
- ``<name>.state.json``: ``nomad operator snapshot state`` (a full FSM restore);
- ``<name>.oracle.json``: tests/oracle's verdict, whose ``inspect`` object is
  computed the way Nomad 1.8.1+'s ``inspect -json`` does, with Nomad's decoder.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snaptool.checks import Target
from snaptool.cli import app
from snaptool.commands import inspect, verify
from snaptool.format.records import parse_version

from .conftest import genuine_fixtures

FIXTURES = genuine_fixtures()
PRIMARY = [p for p in FIXTURES if not p.name.endswith(".cli.snap")]

# Tables of `nomad operator snapshot state` and the record type behind each.
STATE_TABLES = {
    "Nodes": 0,
    "Jobs": 1,
    "Indexes": 2,
    "Evals": 3,
    "Allocs": 4,
    "PeriodicLaunches": 6,
    "JobSummaries": 7,
    "VaultAccessors": 8,
    "JobVersions": 9,
    "Deployments": 10,
    "ACLPolicies": 11,
    "ACLTokens": 12,
    "SITokenAccessors": 15,
    "ScalingPolicies": 16,
    "CSIPlugins": 17,
    "CSIVolumes": 18,
    "ScalingEvents": 19,
}

pytestmark = pytest.mark.skipif(not FIXTURES, reason="no genuine fixtures in fixtures/genuine")


def _version(path: Path) -> str:
    return path.name.split("-")[1]


def _golden(path: Path, suffix: str) -> Path:
    name = path.name.removesuffix(".snap")
    return path.with_name(name + suffix)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_restorable_by_the_nomad_that_made_it(path: Path) -> None:
    target = Target(parse_version(_version(path)), "ce")
    report = verify(path, target=target)
    assert report.ok and report.strict_ok, [f.to_dict() for f in report.findings]


@pytest.mark.parametrize("path", PRIMARY, ids=lambda p: p.name)
def test_meta_matches_nomads_inspect_text(path: Path) -> None:
    golden = _golden(path, ".inspect.txt")
    fields = dict(line.split(None, 1) for line in golden.read_text().splitlines() if line.strip())
    meta = inspect(path).meta
    assert meta is not None
    assert {k: fields[k].strip() for k in ("ID", "Size", "Index", "Term", "Version")} == {
        "ID": meta.ID,
        "Size": str(meta.Size),
        "Index": str(meta.Index),
        "Term": str(meta.Term),
        "Version": str(meta.Version),
    }


@pytest.mark.parametrize("path", PRIMARY, ids=lambda p: p.name)
def test_counts_match_nomads_state_restore(path: Path) -> None:
    state = json.loads(_golden(path, ".state.json").read_text())
    counts = {r.number: r.count for r in inspect(path).rows}
    for table, number in STATE_TABLES.items():
        if table in state:
            assert counts.get(number, 0) == len(state[table] or []), table


@pytest.mark.parametrize("path", PRIMARY, ids=lambda p: p.name)
def test_inspect_json_matches_nomad(path: Path) -> None:
    golden = _golden(path, ".oracle.json")
    if not golden.exists():
        pytest.skip(f"no oracle golden {golden.name} (tests/oracle/build.sh, then re-run it)")
    expected = json.loads(golden.read_text())["inspect"]
    result = CliRunner().invoke(app, ["inspect", "--json", str(path)])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["Meta"] == expected["Meta"]
    assert got["Stats"] == expected["Stats"]


# --- tampered copies ------------------------------------------------------


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as tf:
        return [(m, tf.extractfile(m).read()) for m in tf.getmembers()]  # type: ignore[union-attr]


def _failing_members(path: Path) -> set[str]:
    report = verify(path)
    assert not report.ok
    lines = CliRunner().invoke(app, ["verify", str(path)]).stdout.splitlines()
    failing = {f.member for f in report.findings if f.severity in ("reject", "restore")}
    assert all(any(m in line for line in lines[1:]) for m in failing)
    return failing


@pytest.mark.parametrize("path", PRIMARY, ids=lambda p: p.name)
def test_flipped_bit_in_state_bin(path: Path, tmp_path: Path) -> None:
    from snaptool.stream.writer import gzip_member

    tar = bytearray(gzip.decompress(path.read_bytes()))
    state_at = tar.find(b"state.bin\x00")
    assert state_at >= 0
    tar[state_at + 512 + 100] ^= 0x10  # a byte well inside state.bin's data
    bad = tmp_path / "flipped.snap"
    bad.write_bytes(gzip_member(bytes(tar)))
    assert "state.bin" in _failing_members(bad)


@pytest.mark.parametrize("path", PRIMARY, ids=lambda p: p.name)
def test_truncated_file(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    bad = tmp_path / "cut.snap"
    bad.write_bytes(data[: len(data) // 2])
    failing = _failing_members(bad)
    assert failing & {"state.bin", "meta.json", "SHA256SUMS", "tar", "gzip"}
    assert any(m in failing for m in ("state.bin", "meta.json", "SHA256SUMS")), failing


@pytest.mark.parametrize("path", PRIMARY, ids=lambda p: p.name)
def test_trailing_byte(path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "trailing.snap"
    bad.write_bytes(path.read_bytes() + b"\n")
    assert _failing_members(bad) == {"gzip"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_writer_range_contains_the_nomad_that_wrote_it(path: Path) -> None:
    from snaptool.format.records import writer_range

    span = writer_range({r.number for r in inspect(path).rows})
    assert span is not None
    assert span[0] <= parse_version(_version(path)) <= span[1]
