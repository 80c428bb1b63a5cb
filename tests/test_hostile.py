"""Hostile and odd inputs: a clear verdict, bounded work, the right form."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snaptool.cli import app
from snaptool.stream.inflate import OUT_CHUNK
from snaptool.commands import verify
from snaptool.stream.reader import Limits
from snaptool.stream.writer import gzip_member, sums_text, tar_bytes

from .conftest import FIXTURES

OK = FIXTURES / "synthetic" / "ok-canonical.snap"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]


def _crc64_go_ecma(data: bytes) -> bytes:
    """Go's crc64 with the ECMA table, written out bit by bit (the spec)."""
    poly = 0xC96C5795D7870F42  # ECMA-182, reflected
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return (crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def _raft_dir(tmp_path: Path, *, crc: bytes | None) -> Path:
    members = _members(OK)
    d = tmp_path / "2-61-1764494160000"
    d.mkdir()
    meta = json.loads(members["meta.json"])
    if crc is not None:
        meta["CRC"] = base64.b64encode(crc).decode()
    (d / "meta.json").write_text(json.dumps(meta))
    (d / "state.bin").write_bytes(members["state.bin"])
    return d


def test_raft_directory_with_right_crc(tmp_path: Path) -> None:
    state = _members(OK)["state.bin"]
    report = verify(_raft_dir(tmp_path, crc=_crc64_go_ecma(state)))
    assert report.ok and report.form == "dir"
    assert not [f for f in report.findings if f.code.startswith("dir.")]


def test_raft_directory_with_wrong_crc(tmp_path: Path) -> None:
    report = verify(_raft_dir(tmp_path, crc=b"\x00" * 8))
    assert not report.ok
    assert [f.code for f in report.findings if f.severity == "reject"] == ["dir.crc-mismatch"]


def test_raft_directory_without_state(tmp_path: Path) -> None:
    d = _raft_dir(tmp_path, crc=None)
    (d / "state.bin").unlink()
    assert "dir.missing-file" in {f.code for f in verify(d).findings}


def test_bare_state_bin(tmp_path: Path) -> None:
    p = tmp_path / "state.bin"
    p.write_bytes(_members(OK)["state.bin"])
    assert not verify(p).ok  # not an archive
    assert "--state" in verify(p).findings[0].message
    report = verify(p, form="state")
    assert report.ok and report.scan.state is not None and report.scan.state.records == 33


def test_double_gzip(tmp_path: Path) -> None:
    p = tmp_path / "double.snap"
    p.write_bytes(gzip.compress(OK.read_bytes()))
    assert "input.double-gzip" in {f.code for f in verify(p).findings}


def test_vault_archive_is_named(tmp_path: Path) -> None:
    meta, state = b'{"Version":1}\n', b"\x80"
    files = {"meta.json": meta, "state.bin": state}
    tar = tar_bytes(
        [("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums_text(files)), ("SHA256SUMS.sealed", b"x")],
        0,
    )
    p = tmp_path / "vault.snap"
    p.write_bytes(gzip_member(tar))
    messages = [f.message for f in verify(p).findings if f.code == "tar.unexpected-entry"]
    assert messages and "Vault" in messages[0]


def test_consul_state_is_named(tmp_path: Path) -> None:
    state = b"\x81\xa9LastIndex\x05" + b"\x00\x80"
    meta = json.dumps({"Version": 1, "Size": len(state)}).encode() + b"\n"
    files = {"meta.json": meta, "state.bin": state}
    p = tmp_path / "consul.snap"
    p.write_bytes(gzip_member(tar_bytes([("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums_text(files))], 0)))
    assert "state.consul" in {f.code for f in verify(p).findings}


def test_zero_bomb_stops_at_the_unread_limit(tmp_path: Path) -> None:
    p = tmp_path / "zeros.snap"
    p.write_bytes(gzip_member(bytes(32 << 20)))
    report = verify(p, limits=Limits(max_unread=1 << 20))
    unread = [f for f in report.findings if f.code == "tar.unread-bytes"]
    assert unread and "limit" in unread[0].message
    # stopped early: within an inflate chunk or two of the limit
    assert report.scan.decompressed_size <= (1 << 20) + 2 * OUT_CHUNK < 32 << 20


def test_state_past_meta_size_stops_the_walk(tmp_path: Path) -> None:
    state = b"\x80" + b"\x00\x00" * 100_000  # zeros read as two-byte records
    meta = json.dumps({"Version": 1, "Size": 16}).encode() + b"\n"
    files = {"meta.json": meta, "state.bin": state}
    p = tmp_path / "long.snap"
    p.write_bytes(gzip_member(tar_bytes([("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums_text(files))], 0)))
    report = verify(p)
    codes = {f.code for f in report.findings}
    assert {"state.past-meta-size", "meta.size-mismatch"} <= codes
    assert report.scan.state is not None and report.scan.state.records < 10
    assert report.scan.state.length == len(state)


@pytest.mark.parametrize("size", [1, 2, 10, 100, 511, 512, 1024])
def test_tiny_files_get_a_verdict(tmp_path: Path, size: int) -> None:
    p = tmp_path / "tiny.snap"
    p.write_bytes(OK.read_bytes()[:size])
    assert not verify(p).ok


def test_batch_directory_skips_links_and_dotfiles(tmp_path: Path) -> None:
    (tmp_path / "a.snap").write_bytes(OK.read_bytes())
    (tmp_path / ".hidden.snap").write_bytes(b"junk")
    (tmp_path / "link.snap").symlink_to(tmp_path / "a.snap")
    (tmp_path / "empty.snap").write_bytes(b"")
    result = CliRunner().invoke(app, ["verify", "--json", "--jobs", "2", str(tmp_path)])
    obj = json.loads(result.stdout)
    assert [Path(r["file"]).name for r in obj["reports"]] == ["a.snap", "empty.snap"]
    assert obj["summary"] == {"files": 2, "ok": 1, "failed": 1, "trouble": 0}
    assert result.exit_code == 1


def test_debug_shows_traceback_only_on_internal_errors(monkeypatch) -> None:
    import snaptool.commands

    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise RuntimeError("kaboom")

    monkeypatch.setattr(snaptool.commands, "verify", boom)
    result = CliRunner().invoke(app, ["verify", str(OK)])
    assert result.exit_code == 2 and "internal error" in result.stderr and "Traceback" not in result.output


def test_wrapped_keys_of_the_wrong_kind(tmp_path: Path) -> None:
    """Found by the atheris fuzzer: a WrappedRootKeys record whose WrappedKeys
    is an integer must not crash the key-material note."""
    import msgpack

    record = msgpack.packb({"KeyID": "k", "WrappedKeys": 5}, use_bin_type=False)
    state = b"\x80" + b"\x1e" + record
    meta = json.dumps({"Version": 1, "Size": len(state)}).encode() + b"\n"
    files = {"meta.json": meta, "state.bin": state}
    p = tmp_path / "k.snap"
    p.write_bytes(gzip_member(tar_bytes([("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums_text(files))], 0)))
    report = verify(p)
    assert "content.key-material" not in {f.code for f in report.findings}
    assert verify(p, schema=True).findings is not None


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parent / "fuzz" / "regressions").glob("*")), ids=lambda p: p.name
)
def test_fuzz_regressions(path: Path) -> None:
    """Inputs the atheris target once crashed on, replayed as it feeds them."""
    atheris = pytest.importorskip("atheris", reason="atheris replays need the fuzzer's data provider")
    fdp = atheris.FuzzedDataProvider(path.read_bytes())
    form = ("snap", "tar", "state")[fdp.ConsumeIntInRange(0, 2)]
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "input.snap"
        target.write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
        report = verify(target, form=form)
        assert all(f.message for f in report.findings)
        verify(target, form=form, schema=True)
