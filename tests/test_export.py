"""snaptool state: JSON lines and the document, against Nomad's own output.

Goldens: ``fixtures/genuine/<name>.state.json`` is what the real Nomad's
``nomad operator snapshot state`` printed for ``<name>.snap``; the document
must equal it table by table, object by object.
"""

from __future__ import annotations

import io
import json
import re
import struct

import pytest
from typer.testing import CliRunner

from snaptool.cli import app
from snaptool.commands import inspect as run_inspect
from snaptool.export import (
    NOMAD_TABLES,
    RecordFilter,
    export_document,
    export_lines,
    go_duration,
    parse_types,
)
from snaptool.stream.writer import archive_bytes
from snaptool.values import go_time_bytes

from .conftest import GENUINE

runner = CliRunner()

STATE_GOLDENS = sorted(GENUINE.glob("*.state.json"))
BASIC = GENUINE / "nomad-1.6.1-basic.snap"
ACL = GENUINE / "nomad-1.6.1-acl.snap"

needs_basic = pytest.mark.skipif(not BASIC.exists(), reason=f"{BASIC} is missing")
needs_acl = pytest.mark.skipif(not ACL.exists(), reason=f"{ACL} is missing")


def _version(name: str) -> tuple[int, ...]:
    m = re.match(r"nomad-(\d+)\.(\d+)\.(\d+)-", name)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def _doc(path, **kw) -> dict:
    buf = io.StringIO()
    export_document(path, buf, **kw)
    return json.loads(buf.getvalue())


def _lines(path, **kw) -> list[dict]:
    buf = io.StringIO()
    export_lines(path, buf, **kw)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def _differences(ours, theirs, path="") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for k in sorted(set(ours) | set(theirs)):
            if k not in ours:
                out.append(f"{path}.{k}: missing in snaptool's")
            elif k not in theirs:
                out.append(f"{path}.{k}: not in Nomad's")
            else:
                out += _differences(ours[k], theirs[k], f"{path}.{k}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs)) for d in _differences(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [f"{path}: {ours!r:.80} != {theirs!r:.80}"]


def nomad_golden_differences(snap, golden: dict, version: tuple[int, ...]) -> list[str]:
    """Every field difference between snaptool's document and Nomad's."""
    ours = _doc(snap, show_secrets=True, nomad_tables=True)
    problems = []
    for table, objects in golden.items():
        if table not in ours:
            problems.append(f"{table}: table missing")
            continue
        mine = ours[table]
        if len(mine) != len(objects):
            problems.append(f"{table}: {len(mine)} objects, Nomad has {len(objects)}")
            continue
        for i, (a, b) in enumerate(zip(mine, objects)):
            if table == "ACLTokens" and version < (1, 5, 0) and b.get("ExpirationTTL") == 0:
                # Known difference: ACLToken.MarshalJSON (ExpirationTTL as a
                # duration string) exists from Nomad 1.5.0 (e4e4dc18e6);
                # snaptool prints the 1.5+ form.
                b = dict(b, ExpirationTTL="")
            problems += [f"{table}[{i}]{d}" for d in _differences(a, b)]
    extra = set(ours) - set(golden) - {"RootKeys"}
    if extra:
        problems.append(f"tables Nomad does not print: {sorted(extra)}")
    return problems


# -- goldens ---------------------------------------------------------------


@pytest.mark.parametrize("golden", STATE_GOLDENS, ids=lambda p: p.name)
def test_document_equals_nomads_snapshot_state(golden):
    snap = golden.with_name(golden.name.replace(".state.json", ".snap"))
    expected = json.loads(golden.read_text())
    assert nomad_golden_differences(snap, expected, _version(golden.name)) == []
    # the table set of the Nomad version that made the golden
    assert set(expected) == set(NOMAD_TABLES) | {"SnapshotMeta"}


def test_goldens_are_there():
    if not STATE_GOLDENS:
        pytest.skip("no fixtures/genuine/*.state.json yet")
    assert any("1.6.1" in p.name for p in STATE_GOLDENS)


@needs_basic
def test_document_has_every_record_once():
    doc = _doc(BASIC, show_secrets=True)
    report = run_inspect(BASIC)
    assert sum(len(v) for k, v in doc.items() if k != "SnapshotMeta") == report.total_count
    assert doc["SnapshotMeta"][0]["Index"] == report.meta.Index
    assert {"Namespaces", "NodePools", "Variables", "SchedulerConfig", "TimeTable"} <= set(doc)


# -- JSON lines ------------------------------------------------------------


@needs_basic
def test_lines_match_the_record_walk():
    lines = _lines(BASIC)
    report = run_inspect(BASIC)
    assert len(lines) == report.total_count
    assert [d["Index"] for d in lines] == list(range(len(lines)))
    assert lines[0]["Offset"] == 1  # after the 0x80 header
    for a, b in zip(lines, lines[1:]):
        assert a["Offset"] + a["Size"] == b["Offset"]
    counts: dict[str, int] = {}
    for d in lines:
        counts[d["Type"]] = counts.get(d["Type"], 0) + 1
        assert set(d) == {"Index", "Type", "TypeNumber", "Offset", "Size", "Value"}
    assert counts == {r.name: r.count for r in report.rows}


@needs_basic
def test_times_and_bytes_as_nomad_prints_them():
    lines = _lines(BASIC, show_secrets=True)
    job = next(d["Value"] for d in lines if d["Type"] == "Job" and d["Value"]["ID"].startswith("render/"))
    # a []byte field that is valid UTF-8 is still base64 (Go's encoding/json)
    assert job["Payload"] and not job["Payload"].startswith("\x13")
    assert job["ParameterizedJob"]["Payload"] == "optional"  # a string field
    node = next(d["Value"] for d in lines if d["Type"] == "Node")
    stamp = node["Events"][0]["Timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)


def test_go_time_and_duration_text():
    def t(secs, nanos, offset=-1):
        return go_time_bytes(struct.pack(">bqih", 1, secs + 62135596800, nanos, offset))

    assert t(0, 0) == "1970-01-01T00:00:00Z"
    assert t(0, 120_000_000) == "1970-01-01T00:00:00.12Z"  # trailing zeros trimmed
    assert t(0, 1) == "1970-01-01T00:00:00.000000001Z"
    assert t(0, 0, 0) == "1970-01-01T00:00:00Z"  # a Local zone at +0
    assert t(0, 0, 120) == "1970-01-01T02:00:00+02:00"
    assert t(-62135596800, 0) == "0001-01-01T00:00:00Z"  # Go's zero time
    assert go_time_bytes(b"\x01" + b"\x00" * 13) is None
    # Go's time.Duration.String()
    assert [go_duration(n) for n in (0, 1500, 2_000_000, 1_500_000_000, 60 * 10**9, 3600 * 10**9, 5400 * 10**9 + 1)] == [
        "0s", "1.5µs", "2ms", "1.5s", "1m0s", "1h0m0s", "1h30m0.000000001s",
    ]


def test_unknown_types_kept_raw_with_offset(tmp_path):
    import msgpack

    value = msgpack.packb({"X": 1})
    state = b"\x80" + bytes([99]) + value + bytes([2]) + msgpack.packb({"Key": "jobs", "Value": 5})
    meta = b'{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Peers":null,"Configuration":{"Servers":null},"ConfigurationIndex":0,"Size":%d}\n' % len(state)
    snap = tmp_path / "unknown.snap"
    snap.write_bytes(archive_bytes(meta, state))
    lines = _lines(snap)
    assert lines[0]["Type"] == "Unknown(99)" and lines[0]["Offset"] == 1
    assert lines[0]["Raw"] == "gaFYAQ==" and lines[0]["Value"] == {"X": 1}
    doc = _doc(snap)
    assert doc["Unknown"] == [{"TypeNumber": 99, "Offset": 1, "Size": len(value) + 1, "Raw": "gaFYAQ=="}]
    assert doc["Indexes"] == [{"Key": "jobs", "Value": 5}]


# -- secrets -----------------------------------------------------------------


@needs_acl
def test_secrets_masked_unless_asked():
    masked = [d for d in _lines(ACL) if d["Type"] in ("ACLToken", "Node", "Variables")]
    shown = [d for d in _lines(ACL, show_secrets=True) if d["Type"] in ("ACLToken", "Node", "Variables")]
    assert masked and len(masked) == len(shown)
    for m, s in zip(masked, shown):
        field = "Data" if m["Type"] == "Variables" else "SecretID"
        assert m["Value"][field].startswith("<redacted sha256:")
        assert not s["Value"][field].startswith("<redacted")
        assert re.fullmatch(r"<redacted sha256:[0-9a-f]{12}>", m["Value"][field])
    text = json.dumps(_doc(ACL))
    for s in shown:
        field = "Data" if s["Type"] == "Variables" else "SecretID"
        assert s["Value"][field] not in text


# -- filters -----------------------------------------------------------------


def test_parse_types():
    assert parse_types(["Job", "9", "acltoken", "Evals"]) == {1, 9, 12, 3}
    assert parse_types(["Job,Alloc"]) == {1, 4}
    with pytest.raises(Exception, match="unknown record type"):
        parse_types(["Jbo"])


@needs_basic
def test_filters():
    def ids(**kw):
        return [(d["Type"], d["Value"].get("ID") or d["Value"].get("JobID") or d["Value"].get("Path")) for d in _lines(BASIC, flt=RecordFilter(**kw))]

    jobs = ids(types={1})
    assert ("Job", "web") in jobs and all(t == "Job" for t, _ in jobs)
    assert {t for t, _ in ids(ids=["web"])} == {"Job", "JobVersion", "JobSummary", "ScalingEvents"}
    assert all(i.startswith("nightly") for _, i in ids(types={1}, prefixes=["nightly"]))
    team = _lines(BASIC, flt=RecordFilter(namespace="team-a"))
    assert team and all(d["Value"].get("Namespace", d["Value"].get("Name")) == "team-a" for d in team)
    services = ids(types={1}, where="Type=='service'")
    assert services and set(services) < set(jobs)


@needs_basic
@pytest.mark.parametrize(
    "expr",
    ["Type=='service'", "Status=='dead'", "length(TaskGroups) > `0`", "contains(Datacenters, 'dc1')", "Meta.rev=='2'"],
)
def test_documented_where_examples_run(expr):
    result = runner.invoke(app, ["state", str(BASIC), "--type", "Job", "--where", expr])
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        assert json.loads(line)["Type"] == "Job"


@needs_basic
def test_cli_state():
    r = runner.invoke(app, ["state", str(BASIC), "--document", "--nomad-tables"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert set(doc) == set(NOMAD_TABLES) | {"SnapshotMeta", "RootKeys"}
    r = runner.invoke(app, ["state", str(BASIC), "--where", "Type=="])
    assert r.exit_code == 2 and "JMESPath" in r.output
    r = runner.invoke(app, ["state", str(BASIC), "--type", "Nope"])
    assert r.exit_code == 2


def test_cli_state_broken_archive_exit_1(tmp_path):
    state = b"\x80\x02\x82\xa3Key"  # cut inside a record
    meta = b'{"Version":1,"ID":"","Index":0,"Term":0,"Peers":null,"Configuration":{"Servers":null},"ConfigurationIndex":0,"Size":%d}\n' % len(state)
    snap = tmp_path / "cut.snap"
    snap.write_bytes(archive_bytes(meta, state))
    r = runner.invoke(app, ["state", str(snap)])
    assert r.exit_code == 1


def test_a_map_key_that_is_a_map_or_an_array_is_shown_as_its_json(tmp_path) -> None:
    """Nomad never writes such a key (and cannot restore it); state shows the
    record instead of failing, the key as its compact JSON text."""
    from snaptool.values import decode

    assert decode(b"\x81\x80\x01") == {"{}": 1}
    assert decode(b"\x81\x92\x01\x02\xa1x") == {"[1,2]": "x"}
    assert decode(b"\x82\xa1a\x81\x80\x01\x91\x80\x02") == {"a": {"{}": 1}, "[{}]": 2}
    assert decode(b"\x81\xa1a\x01") == {"a": 1}  # the usual path is untouched


def test_msgpack_extension_values_are_shown_not_fatal(tmp_path) -> None:
    """Nomad writes no msgpack ext values; state shows one as its code and
    base64 bytes (a msgpack timestamp as extension -1) instead of stopping."""
    import io

    import msgpack

    from snaptool.export import export_lines

    state = b"\x80" + b"\x01" + msgpack.packb(
        {"ID": "x", "A": msgpack.ExtType(5, b"xx"), "L": [msgpack.Timestamp(1, 2)]}
    )
    path = _one_state_archive(tmp_path / "ext.snap", state)
    out = io.StringIO()
    export_lines(path, out)
    value = json.loads(out.getvalue())["Value"]
    assert value["A"] == {"ExtType": 5, "Data": "eHg="}
    assert value["L"] == [{"ExtType": -1, "Data": "AAAACAAAAAE="}]  # seconds 1, nanoseconds 2


def test_a_map_key_that_is_not_utf8_prints_as_go_json_would(tmp_path) -> None:
    """Go's encoding/json writes bytes that are not UTF-8 as U+FFFD; the
    output of state stays UTF-8 in both forms (values are base64, as ever)."""
    import io

    from snaptool.export import export_document, export_lines

    value = b"\x83\xa2ID\xa1x\xa1\xc1\xa1v\xa1k\xa2\xc1z"  # {"ID": "x", b"\xc1": "v", "k": b"\xc1z"}
    state = b"\x80\x01" + value
    path = _one_state_archive(tmp_path / "key.snap", state)
    lines = io.StringIO()
    export_lines(path, lines)
    shown = json.loads(lines.getvalue())["Value"]
    assert shown == {"ID": "x", "\ufffd": "v", "k": "wXo="}
    lines.getvalue().encode("utf-8")  # no lone surrogates left
    doc = io.StringIO()
    export_document(path, doc)
    job = json.loads(doc.getvalue())["Jobs"][0]
    assert job["\ufffd"] == "v" and job["k"] == "wXo="


def test_nan_and_infinities_print_as_strings(tmp_path) -> None:
    """JSON has no NaN or infinity (Go's encoding/json refuses them): state
    prints them as strings, so its output stays JSON, in both forms."""
    import io

    import msgpack

    from snaptool.export import export_document, export_lines

    value = msgpack.packb({"ID": "x", "A": float("nan"), "B": [float("inf"), -float("inf"), 1.5]})
    state = b"\x80\x01" + value
    path = _one_state_archive(tmp_path / "nan.snap", state)
    lines = io.StringIO()
    export_lines(path, lines)
    shown = json.loads(lines.getvalue(), parse_constant=lambda c: pytest.fail(f"{c} in the output"))["Value"]
    assert shown["A"] == "NaN" and shown["B"] == ["+Inf", "-Inf", 1.5]
    doc = io.StringIO()
    export_document(path, doc)
    job = json.loads(doc.getvalue(), parse_constant=lambda c: pytest.fail(f"{c} in the output"))["Jobs"][0]
    assert job["A"] == "NaN" and job["B"] == ["+Inf", "-Inf", 1.5]


def _one_state_archive(path, state: bytes):
    """An archive of ``state`` (a state.bin) with the smallest meta.json."""
    meta = json.dumps({"Version": 1, "ID": "1-2-3", "Index": 2, "Term": 1, "Size": len(state)}).encode()
    path.write_bytes(archive_bytes(meta, state))
    return path


def test_output_that_cannot_encode_the_text_is_one_clear_line(tmp_path) -> None:
    # found by the fresh tester: an internal UnicodeEncodeError
    import os
    import subprocess
    import sys

    import msgpack

    path = _one_state_archive(tmp_path / "u.snap", b"\x80\x01" + msgpack.packb({"ID": "caf\u00e9"}))
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-m", "snaptool", "state", str(path)], capture_output=True, env=env, check=False)
    assert done.returncode == 2
    (line,) = done.stderr.decode("utf-8", "replace").strip().splitlines()
    assert line.startswith("snaptool: the output's encoding (ascii) cannot hold ")
    assert line.endswith("snaptool writes JSON as UTF-8 (set PYTHONIOENCODING=utf-8)")


@pytest.mark.parametrize("document", [False, True], ids=["lines", "document"])
def test_a_value_nested_too_deep_to_print_is_one_clear_line(tmp_path, document) -> None:
    # found by the fresh tester: --document stopped with an internal RecursionError
    import msgpack

    value: object = "x"
    for _ in range(1000):  # msgpack decodes it (limit 1024); no printer recurses that deep
        value = {"k": value}
    path = _one_state_archive(tmp_path / "deep.snap", b"\x80\x01" + msgpack.packb({"ID": "a", "Meta": value}))
    result = CliRunner().invoke(app, ["state", *(["--document"] if document else []), str(path)])
    assert result.exit_code == 2
    assert "state.bin: record 0 (type 1, offset 1) is nested too deeply to print as JSON" in result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize("split", ["0", "thread", "fork"])
def test_extension_values_of_any_type_code_are_shown_not_a_crash(tmp_path, monkeypatch, split):
    """msgpack's ExtType takes type codes 0 to 127 only; a record holding an
    extension value of type -2 (valid msgpack, which Nomad never writes) is
    shown with its code and bytes, as one of type 5 is, and verify --deep
    says where Nomad's types disagree."""
    monkeypatch.setenv("SNAPTOOL_SPLIT", split)
    records = [
        b"\x02\x82\xa3Key\xa1x\xa5Value\xd5\xfe\x61\x62",  # fixext2, type -2, "ab"
        b"\x02\x82\xa3Key\xa1y\xa5Value\xd4\x05\x63",  # fixext1, type 5, "c"
        b"\x02\x82\xa3Key\xa1z\xa5Value\xd6\xff\x00\x00\x00\x01",  # fixext4, type -1: a msgpack timestamp
    ]
    snap = tmp_path / "ext.snap"
    _one_state_archive(snap, b"\x80" + b"".join(records))
    r = runner.invoke(app, ["state", str(snap)])
    assert r.exit_code == 0, r.output
    values = [json.loads(line)["Value"]["Value"] for line in r.stdout.splitlines()]
    assert values == [
        {"ExtType": -2, "Data": "YWI="},
        {"ExtType": 5, "Data": "Yw=="},
        {"ExtType": -1, "Data": "AAAAAQ=="},
    ]
    r = runner.invoke(app, ["verify", "--deep", str(snap)])
    assert r.exit_code == 1
    assert "record 0 (Index): a msgpack extension value (type -2) where Nomad decodes an integer at Value" in r.stdout
    assert "record 1 (Index): a msgpack extension value (type 5) where Nomad decodes an integer at Value" in r.stdout
    assert "Traceback" not in r.output and "internal error" not in r.output
