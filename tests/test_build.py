"""snaptool build: manifests to archives Nomad accepts, reproducibly."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snaptool import codec
from snaptool.build import Built, ManifestError, OutputError, build, load_manifest
from snaptool.checks import Target
from snaptool.commands import verify
from snaptool.format.records import parse_version, record_name
from snaptool.format.tar import go_header
from snaptool.meta import SnapshotMeta
from snaptool.stream.reader import scan

from .conftest import FIXTURES

#: A root key ID for built variables (the recipes use the same).
KEY_ID = "00000000-0000-0000-0000-000000000000"

RECIPES = FIXTURES / "recipes"
OUT = RECIPES / "out"

JOB = {
    "Namespace": "default",
    "ID": "web",
    "Type": "service",
    "TaskGroups": [{"Name": "web", "Count": 1}],
    "Version": 0,
    "CreateIndex": 12,
    "ModifyIndex": 12,
}
MINIMAL = {
    "records": [
        {"Namespace": {"Name": "team-a", "CreateIndex": 10, "ModifyIndex": 10}},
        {"Job": JOB},
        # KeyID: Nomad's state store indexes it (a variable without one fails restore)
        {"Variables": {"Namespace": "default", "Path": "p", "Data": "AAE=", "KeyID": KEY_ID,
                       "CreateIndex": 15, "ModifyIndex": 15}},
    ]
}


def _records(path: Path) -> list[tuple[str, bytes]]:
    events: list = []
    result = scan(path, on_record=events.append, keep_raw=True)
    assert result.state is not None and result.state.complete
    return [(record_name(e.type), e.raw) for e in events]


def _write(tmp_path: Path, manifest: dict, name: str = "out.snap", **kw: object) -> tuple[Built, Path]:
    out = tmp_path / name
    return build(manifest, output=out, mtime=0, base_dir=tmp_path, **kw), out  # type: ignore[arg-type]


# -- a small manifest makes a valid snapshot ------------------------------------------


def test_minimal_manifest_builds_a_restorable_archive(tmp_path: Path) -> None:
    built, out = _write(tmp_path, MINIMAL)
    for target in ("1.4.3", "1.6.1", "latest"):
        report = verify(out, target=Target(parse_version(target), "ce"))
        assert report.ok and report.strict_ok, [f.to_dict() for f in report.findings]
    recs = _records(out)
    names = [n for n, _ in recs]
    assert names.count("Job") == 1 and names.count("Namespace") == 1 and names.count("Variables") == 1
    assert names.count("JobSummary") == 1 and names.count("JobVersion") == 1
    # the declared records come back with the manifest's bytes
    declared = [codec.encode(codec.typed(body, t)) for e in MINIMAL["records"] for t, body in e.items()]
    assert all(raw in [r for _, r in recs] for raw in declared)
    # Index records: one per table written, Value = the highest index there
    indexes = {codec.decode(r)["Key"]: codec.decode(r)["Value"] for n, r in recs if n == "Index"}
    assert indexes == {"jobs": 12, "job_summary": 12, "job_version": 12, "namespaces": 10, "variables": 15}
    meta = built.meta
    assert (meta.Index, meta.Term, meta.Version, meta.ID) == (15, 1, 1, "1-15-0")
    assert meta.Size == len(built.state) and meta.Servers and meta.Servers[0].Address == "127.0.0.1:4647"


def test_archive_is_go_shaped(tmp_path: Path) -> None:
    built, out = _write(tmp_path, MINIMAL)
    data = out.read_bytes()
    assert data[:10] == bytes.fromhex("1f8b08000000000000ff")
    tar = gzip.decompress(data)
    meta_json, state = built.meta_json, built.state
    sums = (
        f"{hashlib.sha256(meta_json).hexdigest()}  meta.json\n"
        f"{hashlib.sha256(state).hexdigest()}  state.bin\n"
    ).encode()
    expected = b""
    for name, body in (("meta.json", meta_json), ("state.bin", state), ("SHA256SUMS", sums)):
        expected += go_header(name, len(body), 0) + body + bytes(-len(body) % 512)
    assert tar == expected + bytes(1024)  # exactly two end blocks, no record padding
    assert meta_json.endswith(b"}\n") and b" " not in meta_json
    assert SnapshotMeta.parse(meta_json).Size == len(state)
    assert state[:1] == b"\x80"


def test_same_manifest_same_bytes_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = build(MINIMAL, mtime=1700000000).archive
    assert build(MINIMAL, mtime=1700000000).archive == a
    assert build(MINIMAL, mtime=1700000001).archive != a
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build(MINIMAL).archive == a
    assert build(MINIMAL).meta.ID.endswith("-1700000000000")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert build(MINIMAL).mtime == 0


# -- editing an existing archive ----------------------------------------------------------


def test_from_remove_patch_replace(tmp_path: Path) -> None:
    base_manifest = {
        "records": MINIMAL["records"]
        + [{"Job": dict(JOB, ID="old", CreateIndex=20, ModifyIndex=20)}, {"SchedulerConfig": {"SchedulerAlgorithm": "binpack"}}]
    }
    _, base = _write(tmp_path, base_manifest, "base.snap")
    before = base.read_bytes()
    base_recs = _records(base)
    edit = {
        "from": "base.snap",
        "remove": [{"Job": {"ID": "old"}}, {"JobSummary": {"JobID": "old"}}, {"JobVersion": {"ID": "old"}}],
        "patch": [{"Job": {"Namespace": "default", "ID": "web"}, "set": {"Priority": 300, "Meta": {"a": "b"}}}],
        "records": [
            {"Namespace": {"Name": "team-a", "Description": "replaced", "CreateIndex": 10, "ModifyIndex": 500}},
            {"SchedulerConfig": {"SchedulerAlgorithm": "spread"}},
            {"ACLPolicy": {"Name": "p", "CreateIndex": 600, "ModifyIndex": 600}},
        ],
    }
    built, out = _write(tmp_path, edit, "edited.snap")
    assert base.read_bytes() == before  # the input is never modified
    recs = _records(out)
    names = [n for n, _ in recs]
    assert names.count("Job") == 1 and names.count("JobSummary") == 1 and names.count("Namespace") == 1
    assert names.count("SchedulerConfig") == 1 and names.count("ACLPolicy") == 1
    values = [(n, codec.decode(r)) for n, r in recs]
    job = next(v for n, v in values if n == "Job")
    assert job["Priority"] == 300 and job["Meta"] == {"a": "b"}
    assert list(job)[: len(JOB)] == list(JOB)  # key order kept, new keys appended
    ns = next(v for n, v in values if n == "Namespace")
    assert ns["Description"] == "replaced"
    assert next(v for n, v in values if n == "SchedulerConfig")["SchedulerAlgorithm"] == "spread"
    # untouched records keep their bytes
    kept = [raw for n, raw in base_recs if n == "Variables"]
    assert kept and all(raw in [r for _, r in recs] for raw in kept)
    indexes = {v["Key"]: v["Value"] for n, v in values if n == "Index"}
    assert indexes["namespaces"] == 500 and indexes["acl_policy"] == 600
    assert built.meta.Index == 600
    assert verify(out).ok
    # the output may not be the base, even with --force
    with pytest.raises(OutputError):
        build(dict(edit), output=base, mtime=0, base_dir=tmp_path, force=True)


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    _, out = _write(tmp_path, MINIMAL)
    with pytest.raises(OutputError, match="--force"):
        _write(tmp_path, MINIMAL)
    build(MINIMAL, output=out, mtime=5, force=True)
    assert b"-15-5000" in gzip.decompress(out.read_bytes())
    assert [p.name for p in tmp_path.iterdir()] == ["out.snap"]  # no temp file left


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ({"records": [{"Jobb": {}}]}, "records[0]: unknown record type 'Jobb'"),
        ({"records": [{}, {"Job": {"ModifyIndex": -1}}]}, "records[0]: must be a mapping"),
        ({"records": [{"Job": {"ID": "x"}}, {"Job": {"ModifyIndex": -1}}]}, "records[1] (Job): ModifyIndex: -1 is negative"),
        ({"records": [{"Variables": {"Data": "%%"}}]}, "records[0] (Variables): Data:"),
        ({"records": [{"Job": [1]}]}, "records[0] (Job): the record body must be a mapping"),
        ({"remove": [{"Job": {"ID": "nope"}}]}, "remove[0]: no Job record matches"),
        ({"patch": [{"Job": {"ID": "nope"}, "set": {"A": 1}}]}, "patch[0]: no Job record matches"),
        ({"recrods": []}, "unknown key 'recrods'"),
        ({"meta": {"Idx": 1}}, "meta.Idx: unknown meta field"),
        ({"meta": {"Index": 1}, "records": [{"Job": JOB}]}, "meta.Index: 1 is below"),
        ({"from": "missing.snap"}, "from: "),
        ({"records": [{"type": 99, "raw": "zz"}]}, "records[0].raw: is not base64"),
    ],
)
def test_manifest_errors_name_manifest_and_entry(tmp_path: Path, manifest: dict, fragment: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ManifestError) as info:
        build(path, mtime=0)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and fragment in text and "\n" not in text


def test_yaml_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("records: [\n")
    with pytest.raises(ManifestError) as info:
        build(path)
    assert str(info.value).startswith(f"{path}: not valid YAML") and "\n" not in str(info.value)


def test_raw_records_and_unknown_types(tmp_path: Path) -> None:
    built, out = _write(tmp_path, {"indexes": "none", "records": [{"type": 99, "raw": "gaFhAQ=="}]})
    assert _records(out) == [("Unknown(99)", b"\x81\xa1a\x01")]
    assert not verify(out).ok  # Nomad does not know type 99


# -- generated manifests read back as declared -------------------------------------------------

_names = st.text("abcdefghij-", min_size=1, max_size=8)
_scalars = st.none() | st.booleans() | st.integers(-(1 << 40), 1 << 40) | st.text(max_size=12) | st.floats(allow_nan=False, allow_infinity=False)
_meta = st.dictionaries(st.text("abcxyz", min_size=1, max_size=4), st.text(max_size=6), max_size=3) | st.none()


@st.composite
def _manifests(draw: st.DrawFn) -> dict:
    records = []
    for name in draw(st.lists(_names, unique=True, max_size=3)):
        records.append({"Namespace": {"Name": name, "Description": draw(st.text(max_size=20)), "Meta": draw(_meta),
                                      "CreateIndex": draw(st.integers(1, 5000)), "ModifyIndex": draw(st.integers(1, 5000))}})
    for jid in draw(st.lists(_names, unique=True, max_size=3)):
        groups = [{"Name": g, "Count": draw(st.integers(0, 1000))} for g in draw(st.lists(_names, unique=True, max_size=2))]
        # Type is indexed by Nomad's state store (a job without one fails restore)
        records.append({"Job": {"Namespace": "default", "ID": jid, "Type": "service", "Priority": draw(st.integers(1, 100)),
                                "TaskGroups": groups, "Meta": draw(_meta), "Extra": draw(_scalars),
                                "Version": draw(st.integers(0, 1 << 33)), "SubmitTime": draw(st.integers(0, 1 << 62)),
                                "CreateIndex": draw(st.integers(1, 1 << 40)), "ModifyIndex": draw(st.integers(1, 1 << 40))}})
    for path in draw(st.lists(_names, unique=True, max_size=3)):
        records.append({"Variables": {"Namespace": "default", "Path": path, "Data": {"$bytes": "AAEC/w=="}, "KeyID": KEY_ID,
                                      "CreateTime": "2024-05-01T12:00:00.000000001Z", "ModifyIndex": draw(st.integers(0, 300))}})
    return {"meta": {"Term": draw(st.integers(1, 9))}, "derive": draw(st.booleans()), "records": records}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_manifests())
def test_generated_manifests_read_back(tmp_path: Path, manifest: dict) -> None:
    out = tmp_path / "gen.snap"
    built = build(manifest, output=out, mtime=0, force=True)
    recs = _records(out)
    declared = [(t, body) for e in manifest["records"] for t, body in e.items()]
    for t, body in declared:
        got = [codec.plain(codec.decode(raw), t) for n, raw in recs if n == t]
        want = json.loads(json.dumps(codec.plain(codec.typed(body, t), t)))
        assert json.loads(json.dumps(want)) in json.loads(json.dumps(got))
    counts = built.counts()
    for t in ("Namespace", "Job", "Variables"):
        assert counts.get(t, 0) == sum(1 for n, _ in declared if n == t)
    jobs = counts.get("Job", 0)
    assert counts.get("JobSummary", 0) == (jobs if manifest["derive"] else 0)
    assert verify(out).ok


# -- recipes -------------------------------------------------------------------------


def _recipe_paths() -> list[Path]:
    return sorted(RECIPES.glob("*.yaml"))


@pytest.mark.parametrize("recipe", _recipe_paths(), ids=lambda p: p.stem)
def test_recipe_regenerates_identically(recipe: Path, tmp_path: Path) -> None:
    committed = OUT / (recipe.stem + ".snap")
    assert committed.is_file(), f"run: snaptool build {recipe} -o {committed}"
    built = build(recipe, mtime=0)
    # the tar inside is reproducible everywhere
    assert gzip.decompress(built.archive) == gzip.decompress(committed.read_bytes())
    # the deflate bytes are zlib's: identical for the zlib that made them
    if (OUT / "ZLIB_VERSION").read_text().strip() == zlib.ZLIB_RUNTIME_VERSION:
        assert built.archive == committed.read_bytes()


@pytest.mark.parametrize("recipe", _recipe_paths(), ids=lambda p: p.stem)
def test_recipe_meets_its_expectations(recipe: Path) -> None:
    expect = load_manifest(recipe)["expect"]
    out = OUT / (recipe.stem + ".snap")
    for version, ok in expect["verify"].items():
        report = verify(out, target=Target(parse_version(str(version)), "ce"))
        assert report.ok is ok, (version, [f.to_dict() for f in report.findings])
        if ok:
            assert report.strict_ok
    counts: dict[str, int] = {}
    for name, _ in _records(out):
        counts[name] = counts.get(name, 0) + 1
    assert counts == expect["counts"]
    meta = SnapshotMeta.parse(b"".join(scan(out).meta_parts))
    assert {k: getattr(meta, k) for k in expect["meta"]} == expect["meta"]
    if "unchanged_from_base" in expect:
        base = RECIPES / load_manifest(recipe)["from"]
        base_raw = {raw for n, raw in _records(base) if n in expect["unchanged_from_base"]}
        edited_raw = {raw for n, raw in _records(out) if n in expect["unchanged_from_base"]}
        assert base_raw and base_raw == edited_raw


# -- CLI ------------------------------------------------------------------------------------


def test_cli_build(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snaptool.cli import app

    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(MINIMAL))
    out = tmp_path / "o.snap"
    runner = CliRunner()
    first = runner.invoke(app, ["build", str(manifest), "-o", str(out), "--mtime", "7"])
    assert first.exit_code == 0, first.output
    assert "10 records" in first.output and "ID 1-15-7000" in first.output
    again = runner.invoke(app, ["build", str(manifest), "-o", str(out)])
    assert again.exit_code == 2 and "exists (use --force" in again.output
    forced = runner.invoke(app, ["build", str(manifest), "-o", str(out), "--force", "--mtime", "7", "--json"])
    assert forced.exit_code == 0 and json.loads(forced.output)["counts"]["Job"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"records": [{"Job": {"CreateIndex": "x"}}, {"Nope": {}}]}))
    failed = runner.invoke(app, ["build", str(bad), "-o", str(tmp_path / "b.snap")])
    assert failed.exit_code == 2 and f"{bad}: records[1]" in failed.output
