"""snaptool filter and redact: new archives that verify, kept records byte
for byte, secrets gone."""

from __future__ import annotations

import json
import re
import tarfile

import msgpack
import pytest
from typer.testing import CliRunner

from snaptool.cli import app
from snaptool.commands import verify
from snaptool.meta import SnapshotMeta
from snaptool.rewrite import (
    REDACTED_KEY_SUFFIX,
    filter_decider,
    go_str,
    map_fields,
    redact_decider,
    redact_meta_addresses,
    rewrite_archive,
    splice,
)
from snaptool.stream.reader import scan
from snaptool.stream.writer import archive_bytes
from snaptool.values import decode

from .conftest import GENUINE

runner = CliRunner()
BASIC = GENUINE / "nomad-1.6.1-basic.snap"
ACL = GENUINE / "nomad-1.6.1-acl.snap"
needs_fixtures = pytest.mark.skipif(not (BASIC.exists() and ACL.exists()), reason="genuine 1.6.1 fixtures missing")

#: Nomad's helper.IsUUID
IS_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def records(path) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    scan(path, on_record=lambda ev: out.append((ev.type, ev.raw)), keep_raw=True)
    return out


def members(path) -> dict[str, bytes]:
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers()}


def assert_verifies(path):
    report = verify(path)
    assert report.ok, [(f.code, f.message) for f in report.findings]
    assert not [f for f in report.findings if f.severity == "warning" and f.code.startswith(("meta", "sums", "tar"))]


# -- msgpack surgery -----------------------------------------------------------


def test_go_str_never_str8():
    assert go_str("a" * 31)[:1] == b"\xbf"
    assert go_str("a" * 32)[:3] == b"\xda\x00\x20"  # Go writes str16, not d9
    assert go_str("a" * 65536)[:5] == b"\xdb\x00\x01\x00\x00"


def test_splice_changes_only_the_field():
    raw = msgpack.packb({"A": 1, "SecretID": "x" * 36, "B": [1, 2]}, use_bin_type=False)
    out = splice(raw, {"SecretID": go_str("y" * 36), "Missing": b"\xc0"})
    assert decode(out) == {"A": 1, "SecretID": "y" * 36, "B": [1, 2]}
    assert out == raw.replace(b"x" * 36, b"y" * 36)
    assert [f.key for f in map_fields(out)] == ["A", "SecretID", "B"]


# -- filter --------------------------------------------------------------------


@needs_fixtures
def test_noop_rewrite_is_identical_inside(tmp_path):
    out = tmp_path / "same.snap"
    report = rewrite_archive(BASIC, out, filter_decider())
    assert report.records_in == report.records_out and not report.dropped
    a, b = members(BASIC), members(out)
    assert a["state.bin"] == b["state.bin"]
    assert a["meta.json"] == b["meta.json"]  # re-encoded as Go does, byte for byte
    assert_verifies(out)


@needs_fixtures
def test_filter_drop_type_copies_the_rest_byte_for_byte(tmp_path):
    out = tmp_path / "noevals.snap"
    report = rewrite_archive(BASIC, out, filter_decider(drop_types={3}))
    before = records(BASIC)
    assert records(out) == [r for r in before if r[0] != 3]
    assert report.dropped == {3: sum(1 for t, _ in before if t == 3)}
    meta = SnapshotMeta.parse(members(out)["meta.json"])
    assert meta.Size == len(members(out)["state.bin"]) == report.state_size
    assert_verifies(out)


@needs_fixtures
def test_filter_namespace_keeps_cluster_wide_records(tmp_path):
    out = tmp_path / "team-a.snap"
    rewrite_archive(BASIC, out, filter_decider(namespace="team-a"))
    kept = [(t, decode(raw)) for t, raw in records(out)]
    types = {t for t, _ in kept}
    assert {0, 2, 13, 28} <= types  # nodes, indexes, scheduler config, node pools
    for t, v in kept:
        if t == 64:
            assert v["Name"] in ("team-a", "default")
        elif isinstance(v, dict) and isinstance(v.get("Namespace"), str):
            assert v["Namespace"] == "team-a"
    assert any(t == 1 for t, _ in kept)
    assert_verifies(out)


@needs_fixtures
def test_filter_keep_type_and_drop_where(tmp_path):
    out = tmp_path / "jobs.snap"
    rewrite_archive(BASIC, out, filter_decider(keep_types={1}, drop_where="Type=='batch'"))
    kept = [decode(raw) for _, raw in records(out)]
    assert kept and all(v["Type"] != "batch" for v in kept)
    assert_verifies(out)


def _synthetic(tmp_path, extra: list[tuple[int, dict]]):
    state = b"\x80" + b"".join(bytes([t]) + msgpack.packb(v, use_bin_type=False) for t, v in extra)
    meta = (
        b'{"Version":1,"ID":"2-9-1700000000000","Index":9,"Term":2,"Peers":"ka8xMjcuMC4wLjE6NDY0Nw==",'
        b'"Configuration":{"Servers":[{"Suffrage":0,"ID":"a","Address":"127.0.0.1:4647"}]},'
        b'"ConfigurationIndex":1,"Size":%d}\n' % len(state)
    )
    path = tmp_path / "in.snap"
    path.write_bytes(archive_bytes(meta, state))
    return path


def test_filter_drop_enterprise(tmp_path):
    src = _synthetic(tmp_path, [(2, {"Key": "jobs", "Value": 1}), (66, {"Name": "q"}), (70, {"ID": "r"})])
    out = tmp_path / "ce.snap"
    r = runner.invoke(app, ["filter", str(src), str(out), "--drop-enterprise", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert {d["Type"]: d["Count"] for d in report["Dropped"]} == {"QuotaSpec": 1, "Recommendation": 1}
    assert report["Verify"]["ok"] is True
    assert [t for t, _ in records(out)] == [2]


def test_filter_refuses_to_overwrite(tmp_path):
    src = _synthetic(tmp_path, [(2, {"Key": "jobs", "Value": 1})])
    out = tmp_path / "out.snap"
    out.write_bytes(b"precious")
    r = runner.invoke(app, ["filter", str(src), str(out), "--drop-type", "Eval"])
    assert r.exit_code == 2 and "--force" in r.output
    assert out.read_bytes() == b"precious"
    r = runner.invoke(app, ["filter", str(src), str(out), "--drop-type", "Eval", "--force"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.snap", "out.snap"]  # no temp files left
    r = runner.invoke(app, ["filter", str(src), str(tmp_path / "x.snap")])
    assert r.exit_code == 2


def test_filter_refuses_a_broken_input(tmp_path):
    src = tmp_path / "bad.snap"
    src.write_bytes(b"not a snapshot")
    r = runner.invoke(app, ["filter", str(src), str(tmp_path / "o.snap"), "--drop-type", "Eval"])
    assert r.exit_code == 1 and not (tmp_path / "o.snap").exists()


# -- redact --------------------------------------------------------------------


@needs_fixtures
def test_redact_acl_tokens(tmp_path):
    out = tmp_path / "redacted.snap"
    r = runner.invoke(app, ["redact", str(ACL), str(out), "--addresses"])
    assert r.exit_code == 0, r.output
    assert "verify: OK" in r.stdout
    before, after = records(ACL), records(out)
    assert len(before) == len(after)
    secrets = []
    for (t0, raw0), (t1, raw1) in zip(before, after):
        assert t0 == t1
        if t0 == 26:
            continue  # the OIDC client secret: see test_redact_replaces_the_oidc_client_secret
        if t0 != 12:
            assert raw0 == raw1  # everything else byte for byte
            continue
        v0, v1 = decode(raw0), decode(raw1)
        assert v1["SecretID"] != v0["SecretID"] and IS_UUID.match(v1["SecretID"])
        assert v1["SecretID"].startswith("00000000-")
        assert {k: v for k, v in v0.items() if k != "SecretID"} == {k: v for k, v in v1.items() if k != "SecretID"}
        secrets.append(v0["SecretID"])
        secrets.append(v1["SecretID"])
    assert len(set(secrets)) == len(secrets) >= 4
    state = members(out)["state.bin"]
    assert not any(s.encode() in state for s in secrets[::2])
    meta = SnapshotMeta.parse(members(out)["meta.json"])
    assert all(s.Address.startswith("192.0.2.") for s in meta.Servers)
    assert meta.peer_addresses() == [s.Address for s in meta.Servers]
    assert_verifies(out)


def test_redact_root_keys_like_nomad(tmp_path):
    key = {
        "KeyID": "7b3f0c2e-1111-2222-3333-444455556666",
        "Algorithm": "aes256-gcm",
        "CreateTime": 1,
        "CreateIndex": 5,
        "ModifyIndex": 5,
        "State": "active",
        "PublishTime": 0,
        "WrappedKeys": [{"Provider": "aead", "ProviderID": "", "WrappedDataEncryptionKey": {"Ciphertext": "c"}, "WrappedRSAKey": None, "KeyEncryptionKey": "k" * 32}],
    }
    bare = dict(key, KeyID="no-material", WrappedKeys=None)
    src = _synthetic(tmp_path, [(30, key), (30, bare), (2, {"Key": "root_keys", "Value": 5})])
    out = tmp_path / "r.snap"
    report = rewrite_archive(src, out, redact_decider(), meta_edit=redact_meta_addresses)
    assert report.changed == {30: 1}
    got = [decode(raw) for t, raw in records(out) if t == 30]
    assert got[0]["KeyID"] == key["KeyID"] + REDACTED_KEY_SUFFIX and got[0]["WrappedKeys"] is None
    assert {k: v for k, v in got[0].items() if k not in ("KeyID", "WrappedKeys")} == {
        k: v for k, v in key.items() if k not in ("KeyID", "WrappedKeys")
    }
    assert got[1] == bare
    assert b"k" * 32 not in members(out)["state.bin"]
    assert_verifies(out)
    # a second pass changes nothing more
    again = rewrite_archive(out, tmp_path / "r2.snap", redact_decider())
    assert again.changed == {}


@needs_fixtures
def test_redact_options(tmp_path):
    out = tmp_path / "r.snap"
    r = runner.invoke(app, ["redact", str(BASIC), str(out), "--node-secrets", "--identities", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    changed = {d["Type"]: d["Count"] for d in report["Changed"]}
    assert changed.get("Node") == 1 and changed.get("Alloc", 0) >= 1
    for t, raw in records(out):
        v = decode(raw)
        if t == 0:
            assert v["SecretID"].startswith("00000000-")
        if t == 4:
            assert not v.get("SignedIdentities")


@needs_fixtures
def test_redact_replaces_the_oidc_client_secret(tmp_path) -> None:  # noqa: ANN001
    """ACLAuthMethod Config.OIDCClientSecret (the fixture's auth method has one)."""
    from snaptool import codec
    from snaptool.stream.reader import scan as _scan

    src = ACL
    out = tmp_path / "red.snap"
    CliRunner().invoke(app, ["redact", str(src), str(out)])
    methods: dict[str, list] = {"before": [], "after": []}
    for key, path in (("before", src), ("after", out)):
        _scan(path, on_record=lambda e, k=key: methods[k].append(codec.decode(e.raw)) if e.type == 26 else None, keep_raw=True)
    assert methods["before"][0]["Config"]["OIDCClientSecret"] not in ("", "<redacted>")
    assert methods["after"][0]["Config"]["OIDCClientSecret"] == "<redacted>"
    methods["after"][0]["Config"]["OIDCClientSecret"] = methods["before"][0]["Config"]["OIDCClientSecret"]
    assert methods["after"] == methods["before"]
