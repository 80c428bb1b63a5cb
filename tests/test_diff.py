"""``snaptool.diff``: field paths, secrets, packaging-only differences,
generated changes (Hypothesis), filters, the CLI and its exit codes."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from snaptool.cli import app
from snaptool.diff import SCHEMA, diff, diff_values, render, secrets_for
from snaptool.format.records import by_number
from snaptool.meta import SnapshotMeta, go_json
from snaptool.stream.reader import scan
from snaptool.stream.writer import gzip_member, sums_text, tar_bytes
from snaptool.values import decode

from .conftest import FIXTURES, GENUINE

PAIRS = GENUINE / "pairs"
BASE = PAIRS / "03-stop.snap"
if not BASE.exists():  # pragma: no cover - pairs always ship with the repo
    BASE = FIXTURES / "synthetic" / "ok-canonical.snap"

runner = CliRunner()
Record = tuple[int, bytes]


# -- building archives -------------------------------------------------------------


def read_archive(path: Path) -> tuple[bytes, list[Record]]:
    records: list[Record] = []
    result = scan(path, on_record=lambda ev: records.append((ev.type, ev.raw or b"")), keep_raw=True)
    return result.meta_raw, records


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=False, unicode_errors="surrogateescape")


def build(
    meta_raw: bytes,
    records: list[Record],
    *,
    mtime: int = 0,
    level: int = 6,
    sums_order: tuple[str, str] = ("meta.json", "state.bin"),
) -> bytes:
    state = b"\x80" + b"".join(bytes([t]) + raw for t, raw in records)
    meta = SnapshotMeta.parse(meta_raw)
    meta.Size = len(state)
    meta_json = go_json(meta)
    files = {"meta.json": meta_json, "state.bin": state}
    tar = tar_bytes(
        [("meta.json", meta_json), ("state.bin", state), ("SHA256SUMS", sums_text(files, sums_order))],
        mtime,
    )
    return gzip_member(tar, level)


def write(dirpath: Path, name: str, data: bytes) -> Path:
    p = dirpath / name
    p.write_bytes(data)
    return p


@pytest.fixture(scope="module")
def base() -> tuple[bytes, list[Record]]:
    return read_archive(BASE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("diff")


# -- field-level comparison ----------------------------------------------------------


def paths(a: Any, b: Any, secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {c.path: c for c in diff_values(a, b, secrets)}


def test_keyed_list_by_name() -> None:
    a = {"TaskGroups": [{"Name": "web", "Count": 2}, {"Name": "db", "Count": 1}]}
    b = {"TaskGroups": [{"Name": "web", "Count": 3}, {"Name": "cache", "Count": 1}]}
    got = paths(a, b)
    assert (got["TaskGroups[web].Count"].old, got["TaskGroups[web].Count"].new) == (2, 3)
    assert got["TaskGroups[db]"].op == "removed"
    assert got["TaskGroups[cache]"].op == "added"
    assert got["TaskGroups[cache]"].new == {"Name": "cache", "Count": 1}


def test_keyed_list_falls_back_to_id_then_position() -> None:
    got = paths({"L": [{"ID": "x", "v": 1}]}, {"L": [{"ID": "x", "v": 2}]})
    assert "L[x].v" in got
    # duplicate names: by position
    got = paths({"L": [{"Name": "a", "v": 1}, {"Name": "a", "v": 1}]},
                {"L": [{"Name": "a", "v": 1}, {"Name": "a", "v": 2}]})
    assert list(got) == ["L[1].v"]
    got = paths({"L": [{"v": 1}]}, {"L": [{"v": 1}, {"v": 2}]})
    assert got["L[1]"].op == "added"


def test_keyed_list_reorder_and_quoting() -> None:
    a = {"T": [{"Name": "a"}, {"Name": "b"}]}
    b = {"T": [{"Name": "b"}, {"Name": "a"}]}
    got = paths(a, b)
    assert got["T"].op == "reordered" and got["T"].old == ["a", "b"] and got["T"].new == ["b", "a"]
    got = paths({"T": [{"Name": "0", "v": 1}]}, {"T": [{"Name": "0", "v": 2}]})
    assert 'T["0"].v' in got
    got = paths({"Meta": {"a.b c": "1"}}, {"Meta": {"a.b c": "2"}})
    assert 'Meta["a.b c"]' in got


def test_scalar_list_is_one_value() -> None:
    got = paths({"Datacenters": ["dc1"]}, {"Datacenters": ["dc1", "dc2"]})
    assert got["Datacenters"].old == ["dc1"] and got["Datacenters"].new == ["dc1", "dc2"]


def test_bool_is_not_int() -> None:
    assert paths({"x": 1}, {"x": True})["x"].new is True
    assert not diff_values({"x": 1, "y": [1, "a"]}, {"y": [1, "a"], "x": 1})


def test_secrets_never_rendered() -> None:
    s = frozenset({"SecretID", "Data"})
    got = paths({"SecretID": "aaa", "Name": "t", "Inner": {"Data": "zz"}},
                {"SecretID": "bbb", "Name": "t", "Inner": {"Data": "yy"}}, s)
    for p in ("SecretID", "Inner.Data"):
        assert got[p].secret and got[p].to_dict() == {"path": p, "op": "changed", "secret": True}
    # a secret inside an added structure is masked too
    got = paths({"L": []}, {"L": [{"Name": "n", "SecretID": "hide-me"}]}, s)
    assert "hide-me" not in json.dumps(got["L[n]"].to_dict())
    got = paths({}, {"SecretID": "hide-me"}, s)
    assert got["SecretID"].to_dict() == {"path": "SecretID", "op": "added", "secret": True}


def test_secret_fields_of_the_registry() -> None:
    assert "SecretID" in secrets_for(12)  # ACLToken
    assert "Data" in secrets_for(22)  # Variables
    assert "WrappedKeys" in secrets_for(30)  # root key material
    assert "SecretID" in secrets_for(0)  # Node
    assert "OIDCClientSecret" in secrets_for(26)  # ACLAuthMethod Config.OIDCClientSecret
    assert "SignedIdentities" in secrets_for(4)  # Alloc workload identities
    assert "KeyEncryptionKey" in secrets_for(30)


def test_auth_method_client_secret_never_printed() -> None:
    a = {"Name": "oidc", "Config": {"OIDCClientID": "x", "OIDCClientSecret": "old-secret"}}
    b = {"Name": "oidc", "Config": {"OIDCClientID": "y", "OIDCClientSecret": "new-secret"}}
    got = paths(a, b, secrets_for(26))
    assert got["Config.OIDCClientSecret"].secret
    dumped = json.dumps([c.to_dict() for c in got.values()])
    assert "old-secret" not in dumped and "new-secret" not in dumped


def go_time_bytes(secs_since_year1: int, nanos: int, offset: int = -1) -> str:
    raw = b"\x01" + struct.pack(">qih", secs_since_year1, nanos, offset)
    return raw.decode("utf-8", "surrogateescape")


def test_times_and_bytes_rendering() -> None:
    unix = 1_796_316_455
    t = go_time_bytes(unix + 62135596800, 123456789)
    assert render(t) == "2026-12-03T16:47:35.123456789Z"
    # a time whose bytes happen to be valid UTF-8 in part is still a time
    assert render(decode(bytes.fromhex("af010000000ee2a3930415e3e038ffff"))) == \
        "2026-12-03T16:42:44.367255608Z"
    assert render(go_time_bytes(0, 0)) == "0001-01-01T00:00:00Z"
    assert render(go_time_bytes(unix + 62135596800, 0, 60)) == "2026-12-03T17:47:35+01:00"
    assert render(unix * 10**9 + 5, "ModifyTime") == "2026-12-03T16:47:35.000000005Z"
    assert render(unix * 10**9, "Count") == unix * 10**9
    assert render(10_000_000_000, "MinHealthyTime") == 10_000_000_000  # a duration
    blob = b"\xff\x00\xfe".decode("utf-8", "surrogateescape")
    assert render(blob).startswith("<3 bytes sha256:")


# -- whole archives ------------------------------------------------------------------


def test_same_file_is_same(base: tuple[bytes, list[Record]], workdir: Path) -> None:
    r = diff(BASE, BASE)
    assert r.same and not r.objects and not r.meta


def test_packaging_only_is_same(base: tuple[bytes, list[Record]], workdir: Path) -> None:
    meta_raw, records = base
    rng = random.Random(5)
    by_type: dict[int, list[Record]] = {}
    for t, raw in records:
        by_type.setdefault(t, []).append((t, raw))
    shuffled: list[Record] = []
    for t in by_type:  # same type order, shuffled within each type
        group = by_type[t][:]
        rng.shuffle(group)
        shuffled += group
    a = write(workdir, "pack-a.snap", build(meta_raw, records))
    b = write(workdir, "pack-b.snap",
              build(meta_raw, shuffled, mtime=1_700_000_000, level=9,
                    sums_order=("state.bin", "meta.json")))
    assert a.read_bytes() != b.read_bytes()
    r = diff(a, b)
    assert r.same and not r.objects and not r.meta, [o.to_dict() for o in r.objects]
    assert runner.invoke(app, ["diff", str(a), str(b)]).exit_code == 0


def _reverse_maps(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _reverse_maps(v[k]) for k in reversed(list(v))}
    if isinstance(v, list):
        return [_reverse_maps(x) for x in v]
    return v


def test_map_order_and_int_widths_are_not_content(base: tuple[bytes, list[Record]], workdir: Path) -> None:
    """Go writes map keys in random order and signed ints as d1/d2; Python
    re-encoding changes every record's bytes but not its content."""
    meta_raw, records = base
    again = [(t, pack(_reverse_maps(decode(raw)))) for t, raw in records]
    assert sum(1 for x, y in zip(records, again) if x != y) > len(records) // 2
    a = write(workdir, "order-a.snap", build(meta_raw, records))
    b = write(workdir, "order-b.snap", build(meta_raw, again))
    r = diff(a, b)
    assert r.same and not r.objects


def test_small_pass2_budget_gives_the_same_answer() -> None:
    a, b = PAIRS / "00-base.snap", PAIRS / "10-purge.snap"
    one = diff(a, b)
    many = diff(a, b, max_pending=1)
    assert [o.to_dict() for o in one.objects] == [o.to_dict() for o in many.objects]
    assert one.objects


# -- generated changes ----------------------------------------------------------------


def _leaves(value: Any, path: str, out: list[tuple[list[Any], str]], trail: list[Any]) -> None:
    """Scalar leaves reachable through maps and Name-keyed lists of maps, with
    the path snaptool should print, written out independently here."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k.isidentifier():
                continue
            p = f"{path}.{k}" if path else k
            if isinstance(v, (dict, list)):
                _leaves(v, p, out, trail + [k])
            elif v is not None:
                out.append((trail + [k], p))
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        names = [x.get("Name") for x in value]
        if all(isinstance(n, str) and n.isidentifier() for n in names) and len(set(names)) == len(names):
            for i, item in enumerate(value):
                sub: list[tuple[list[Any], str]] = []
                _leaves(item, f"{path}[{item['Name']}]", sub, trail + [i])
                out += [(t, p) for t, p in sub if t[len(trail) + 1] != "Name"]


def _bump(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1 if v < 2**62 else v - 1
    if isinstance(v, float):
        return v + 1.5
    return v + "~hyp"


def _keyed(records: list[Record]) -> list[int]:
    """Indexes of records with a unique key that has a string part."""
    seen: dict[tuple[Any, ...], int] = {}
    dup: set[tuple[Any, ...]] = set()
    for i, (t, raw) in enumerate(records):
        rt = by_number(t)
        if rt is None or not rt.key:
            continue
        v = decode(raw)
        if not isinstance(v, dict) or not all(f in v for f in rt.key):
            continue
        k = (t,) + tuple(v[f] for f in rt.key)
        if k in seen:
            dup.add(k)
        seen[k] = i
    return sorted(i for k, i in seen.items() if k not in dup
                  and any(isinstance(v, str) for v in k[1:]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_change_is_reported_exactly(
    base: tuple[bytes, list[Record]], workdir: Path, data: st.DataObject
) -> None:
    meta_raw, records = base
    keyed = _keyed(records)
    i = data.draw(st.sampled_from(keyed), label="record")
    t, raw = records[i]
    rt = by_number(t)
    assert rt is not None
    value = decode(raw)
    key_id = "/".join(str(value[f]) for f in rt.key)
    op = data.draw(st.sampled_from(["field", "added", "removed"]), label="op")
    changed = list(records)
    if op == "field":
        leaves: list[tuple[list[Any], str]] = []
        _leaves(value, "", leaves, [])
        leaves = [(tr, p) for tr, p in leaves if tr[0] not in rt.key]
        trail, path = data.draw(st.sampled_from(leaves), label="leaf")
        holder = value
        for step in trail[:-1]:
            holder = holder[step]
        old = holder[trail[-1]]
        holder[trail[-1]] = _bump(old)
        changed[i] = (t, pack(value))
    elif op == "added":
        last = max(j for j, f in enumerate(rt.key) if isinstance(value[f], str))
        value[rt.key[last]] += "-hyp"
        changed.insert(i + 1, (t, pack(value)))
        key_id = "/".join(str(value[f]) for f in rt.key)
    else:
        del changed[i]

    a = write(workdir, "gen-a.snap", build(meta_raw, records))
    b = write(workdir, "gen-b.snap", build(meta_raw, changed, mtime=99))
    assert diff(a, a).same
    r = diff(a, b)
    assert [(o.op, o.name, o.id) for o in r.objects] == [
        ("changed" if op == "field" else op, rt.name, key_id)
    ]
    assert not r.same
    if op == "field":
        (change,) = r.objects[0].changes
        assert change.path == path and change.op == "changed"
        assert change.secret == (trail[-1] in secrets_for(t))


# -- filters and the CLI ---------------------------------------------------------------


def cli(*args: str) -> Any:
    return runner.invoke(app, ["diff", *map(str, args)])


def test_cli_json_schema() -> None:
    a, b = PAIRS / "00-base.snap", PAIRS / "01-scale.snap"
    result = cli("--json", a, b)
    assert result.exit_code == 1
    obj = json.loads(result.stdout)
    assert obj["schema"] == SCHEMA and obj["same"] is False
    assert set(obj) == {"schema", "same", "filters", "a", "b", "meta", "types", "summary", "objects"}
    assert set(obj["a"]) == {"file", "meta", "problems"}
    assert set(obj["a"]["meta"]) == {"Version", "ID", "Index", "Term", "ConfigurationIndex", "Size",
                                     "Servers"}
    for t in obj["types"]:
        assert set(t) == {"type", "name", "a", "b", "added", "removed", "changed"}
    for o in obj["objects"]:
        assert {"op", "type", "name", "key", "id", "size"} <= set(o)
        assert ("changes" in o) == (o["op"] == "changed")
        for c in o.get("changes", []):
            assert {"path", "op"} <= set(c) <= {"path", "op", "old", "new", "secret"}
    assert sum(obj["summary"].values()) == len(obj["objects"])
    job = next(o for o in obj["objects"] if o["name"] == "Job")
    assert job["key"] == {"Namespace": "default", "ID": "web"} and job["id"] == "default/web"
    assert {"path": "TaskGroups[web].Count", "op": "changed", "old": 2, "new": 3} in job["changes"]


def test_cli_stat() -> None:
    a, b = PAIRS / "00-base.snap", PAIRS / "01-scale.snap"
    obj = json.loads(cli("--json", "--stat", a, b).stdout)
    assert "objects" not in obj and obj["summary"]["changed"] >= 1
    text = cli("--stat", a, b)
    assert text.exit_code == 1
    assert "TaskGroups" not in text.stdout and "Job" in text.stdout


def test_cli_text_and_color() -> None:
    a, b = PAIRS / "00-base.snap", PAIRS / "01-scale.snap"
    plain = cli(a, b)
    assert "~ Job default/web" in plain.stdout
    assert "    TaskGroups[web].Count: 2 -> 3" in plain.stdout
    assert "\x1b[" not in plain.stdout
    colored = cli("--color", a, b)
    assert "\x1b[" in colored.stdout and "TaskGroups[web].Count: 2 -> 3" in colored.stdout


def test_filters() -> None:
    a, b = PAIRS / "03-stop.snap", PAIRS / "10-purge.snap"
    r = diff(a, b, types=frozenset({9}))
    assert {o.name for o in r.objects} == {"JobVersion"}
    assert [t.name for t in r.types] == ["JobVersion"]
    r = diff(a, b, namespaces=["team-b"])
    assert [(o.name, o.op, o.id) for o in r.objects] == [("Namespace", "added", "team-b")]
    r = diff(a, b, ids=["web"])
    assert {o.name for o in r.objects} >= {"Job", "JobSummary"}
    assert all("web" in o.id for o in r.objects)
    r = diff(a, b, ids=["default/web/*"])
    assert {o.name for o in r.objects} == {"JobVersion"}
    result = cli("--type", "Namespace,nodepool", "--json", a, b)
    obj = json.loads(result.stdout)
    assert {o["name"] for o in obj["objects"]} == {"Namespace", "NodePool"}
    assert obj["filters"]["types"] == ["Namespace", "NodePool"]
    # a filter with nothing in scope: same, although the metadata differs
    result = cli("--type", "ACLRole", a, b)
    assert result.exit_code == 0 and "Index:" in result.stdout


def test_exit_2_on_trouble(workdir: Path) -> None:
    good = PAIRS / "00-base.snap"
    missing = cli(good, workdir / "nope.snap")
    assert missing.exit_code == 2 and "nope.snap" in missing.output
    cut = write(workdir, "cut.snap", good.read_bytes()[:-40])
    assert cli(good, cut).exit_code == 2
    junk = write(workdir, "junk.snap", b"<html>not a snapshot</html>")
    assert cli(junk, good).exit_code == 2
    assert cli("--type", "NoSuchType", good, good).exit_code == 2


def test_help_documents_the_schema() -> None:
    result = runner.invoke(app, ["diff", "--help"])
    assert result.exit_code == 0
    for text in (SCHEMA, '"types": [str]', '"secret": true', "--stat", "--namespace"):
        assert text in result.stdout


def test_meta_only_difference_is_content(base: tuple[bytes, list[Record]], workdir: Path) -> None:
    meta_raw, records = base
    meta = SnapshotMeta.parse(meta_raw)
    meta.Index += 5
    a = write(workdir, "meta-a.snap", build(meta_raw, records))
    b = write(workdir, "meta-b.snap", build(go_json(meta), records))
    r = diff(a, b)
    assert not r.objects and [m.field for m in r.meta] == ["Index"] and not r.same
    assert cli(a, b).exit_code == 1
    assert cli("--type", "Job", a, b).exit_code == 0  # objects in scope only


def test_keyless_and_singleton_records(base: tuple[bytes, list[Record]], workdir: Path) -> None:
    meta_raw, records = base
    extra_a = [(2, pack({"Value": 1})), (14, pack({"ClusterID": "c1", "CreateTime": 1}))]
    extra_b = [(2, pack({"Value": 2})), (14, pack({"ClusterID": "c2", "CreateTime": 1}))]
    rest = [(t, raw) for t, raw in records if t != 14]
    a = write(workdir, "keyless-a.snap", build(meta_raw, rest + extra_a))
    b = write(workdir, "keyless-b.snap", build(meta_raw, rest + extra_b))
    r = diff(a, b)
    got = {(o.name, o.id): o for o in r.objects}
    n = sum(1 for t, _ in rest if t == 2)
    index = got[("Index", f"#{n}")]
    assert index.key == {"#": n} and index.changes[0].path == "Value"
    cluster = got[("ClusterMetadata", "")]
    assert cluster.key == {} and [c.path for c in cluster.changes] == ["ClusterID"]
    assert "~ ClusterMetadata\n" in cli(a, b).stdout


def test_a_map_used_as_a_map_key_is_compared_not_a_crash(tmp_path):
    # found by the fresh tester: diff stopped with "internal error: TypeError"
    def snap(name: str, value: bytes) -> Path:
        from snaptool.stream.writer import archive_bytes

        state = b"\x80\x01" + value
        meta = json.dumps({"Version": 1, "ID": "1-2-3", "Index": 2, "Term": 1, "Size": len(state)}).encode()
        path = tmp_path / name
        path.write_bytes(archive_bytes(meta, state))
        return path

    # {"ID": "a", "Meta": {{"k": "x"}: v}}, written by hand (Python cannot hash the key)
    def job(v: bytes) -> bytes:
        return b"\x82\xa2ID\xa1a\xa4Meta\x81\x81\xa1k\xa1x\xa2" + v

    old, new = snap("old.snap", job(b"v1")), snap("new.snap", job(b"v2"))
    result = runner.invoke(app, ["diff", "--json", str(old), str(new)])
    assert result.exit_code == 1, result.output

    def changes(node):
        if isinstance(node, dict):
            if node.get("old") == "v1" and node.get("new") == "v2":
                yield node
            for v in node.values():
                yield from changes(v)
        elif isinstance(node, list):
            for v in node:
                yield from changes(v)

    assert len(list(changes(json.loads(result.output)))) == 1


def test_a_map_key_of_keys_of_mixed_types_decodes():
    # {"ID": "a", "Meta": {{1: 1, "a": 2}: "v"}} (fresh tester: sorting its keys failed)
    raw = bytes.fromhex("82a2494da161a44d65746181820101a16102a176")
    value = decode(raw)
    assert list(value["Meta"].values()) == ["v"]
    assert json.loads(next(iter(value["Meta"]))) == {"1": 1, "a": 2}
