"""snaptool.codec: Go's wire formats, exact round trips of genuine records,
manifest typing rules."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from snaptool import codec
from snaptool.codec import (
    CodecError,
    Float32,
    GoTime,
    I16,
    U16,
    Uint,
    decode,
    encode,
    plain,
    typed,
)
from snaptool.format.records import record_name
from snaptool.stream.reader import scan

from .conftest import genuine_fixtures

FALLBACK = Path("/tmp/fx")


def _genuine() -> list[Path]:
    found = genuine_fixtures()
    if not found and FALLBACK.is_dir():
        found = sorted(FALLBACK.glob("*.snap"))
    return found


GENUINE = _genuine()
needs_genuine = pytest.mark.skipif(not GENUINE, reason="no genuine Nomad snapshot in fixtures/genuine (or /tmp/fx)")


# -- wire facts (FORMAT-NOTES 4) -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (127, "7f"),
        (-32, "e0"),
        (-33, "d0df"),
        (200, "d100c8"),  # Go signed int above 127: int16
        (40000, "d200009c40"),
        (1 << 40, "d30000010000000000"),
        (Uint(200), "ccc8"),  # Go unsigned
        (Uint(70000), "ce00011170"),
        (Uint(1 << 63), "cf8000000000000000"),
        (1.5, "cb3ff8000000000000"),
        (Float32(1.5), "ca3fc00000"),
        (None, "c0"),
        (True, "c3"),
        ("", "a0"),
        ("x" * 31, "bf" + "78" * 31),
        ("x" * 32, "da0020" + "78" * 32),  # never d9 str8
        (b"\xff\x00\xfe", "a3ff00fe"),  # []byte: str family, never bin
        ([], "90"),
        ({}, "80"),
        ({"b": 1, "a": 2}, "82a162" + "01" + "a161" + "02"),  # keys in given order
    ],
)
def test_go_wire_formats(value: object, wire: str) -> None:
    assert encode(value).hex() == wire
    assert encode(decode(bytes.fromhex(wire))).hex() == wire


def test_time_binary() -> None:
    zero = GoTime.parse("0001-01-01T00:00:00Z")
    assert encode(zero).hex() == "af01" + "00" * 12 + "ffff"
    t = GoTime.parse("2024-05-01T12:00:00.5Z")
    secs, nanos, offset, _ = t.parts
    assert secs - 62135596800 == 1714564800 and nanos == 500_000_000 and offset == -1
    assert isinstance(decode(encode(t)), GoTime)
    assert GoTime.parse("2024-05-01T14:00:00+02:00").unix_nanos == GoTime.parse("2024-05-01T12:00:00Z").unix_nanos
    assert GoTime.parse("2024-05-01T12:00:00+00:00").rfc3339() == "2024-05-01T12:00:00+00:00"  # a zone at +0, not UTC


@pytest.mark.parametrize(
    "wire",
    [
        "d903616263",  # str8: kept as Raw
        "c403010203",  # bin8
        "da0003616263",  # str16 for a short string
        "cd0005",  # uint16 holding 5
        "d10005",  # int16 holding 5
        "de0001a16101",  # map16 with one entry
        "dc0001c0",  # array16 with one item
        "82a16101a16102",  # repeated key
        "d40102",  # fixext1
        "c7020301ff",  # ext8
    ],
)
def test_foreign_forms_survive(wire: str) -> None:
    data = bytes.fromhex(wire)
    assert encode(decode(data)) == data


@pytest.mark.parametrize("wire", ["", "c1", "a5616263", "92c0", "cd00", "c0c0"])
def test_bad_input_is_a_codec_error(wire: str) -> None:
    with pytest.raises(CodecError):
        decode(bytes.fromhex(wire))


def test_exact_int_classes() -> None:
    assert decode(b"\xd1\x00\xc8") == 200 and type(decode(b"\xd1\x00\xc8")) is I16
    assert type(decode(b"\xcd\x01\x00")) is U16
    with pytest.raises(CodecError):
        encode(U16(1 << 20))


# -- any msgpack value round-trips ------------------------------------------------

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
_values = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values, st.booleans(), st.booleans())
def test_round_trip_of_any_msgpack(value: object, bin_type: bool, single_float: bool) -> None:
    try:
        data = msgpack.packb(value, use_bin_type=bin_type, use_single_float=single_float)
    except OverflowError:  # a float64 beyond float32's range
        assume(False)
    assert encode(decode(data)) == data


@settings(max_examples=100, deadline=None)
@given(_values)
def test_python_values_match_msgpack_python_where_go_agrees(value: object) -> None:
    """Where Go and msgpack-python agree (no signed int above 127, no str8),
    the encoder writes the same bytes as msgpack-python's old-spec packer."""
    theirs = msgpack.packb(value, use_bin_type=False)
    ours = encode(value)
    assert decode(ours) == decode(theirs) or ours == theirs


# -- genuine records -----------------------------------------------------------------


@needs_genuine
@pytest.mark.parametrize("path", GENUINE, ids=lambda p: p.name)
def test_every_genuine_record_reencodes_byte_for_byte(path: Path) -> None:
    events: list = []
    result = scan(path, on_record=events.append, keep_raw=True)
    assert events and result.state is not None and result.state.complete
    for e in events:
        assert encode(decode(e.raw)) == e.raw, (path.name, e.index, record_name(e.type))


@needs_genuine
@pytest.mark.parametrize("path", GENUINE, ids=lambda p: p.name)
def test_genuine_records_rebuild_from_plain_json(path: Path) -> None:
    """plain() -> JSON -> typed() gives Nomad's bytes back: the field rules
    (signedness, times, []byte) hold for every field of a real snapshot."""
    import json

    events: list = []
    scan(path, on_record=events.append, keep_raw=True)
    for e in events:
        name = record_name(e.type)
        body = json.loads(json.dumps(plain(decode(e.raw), name)))
        assert encode(typed(body, name)) == e.raw, (path.name, e.index, name)


# -- manifest typing ---------------------------------------------------------------------


def test_typed_rules() -> None:
    job = typed(
        {
            "ID": "web",
            "Priority": 200,
            "Version": 200,
            "CreateIndex": 300,
            "SubmitTime": "2024-05-01T12:00:00Z",
            "Payload": "aGk=",
            "TaskGroups": [{"Count": 200, "Tasks": [{"Resources": {"Devices": [{"Count": 200}]}}]}],
        },
        "Job",
    )
    assert encode(job["Priority"]).hex() == "d100c8"
    assert encode(job["Version"]).hex() == "ccc8"
    assert encode(job["CreateIndex"]).hex() == "cd012c"
    assert job["SubmitTime"] == 1714564800 * 10**9
    assert job["Payload"] == b"hi"
    assert encode(job["TaskGroups"][0]["Count"]).hex() == "d100c8"
    assert encode(job["TaskGroups"][0]["Tasks"][0]["Resources"]["Devices"][0]["Count"]).hex() == "ccc8"
    token = typed({"CreateTime": "2024-05-01T12:00:00Z", "ExpirationTime": None}, "ACLToken")
    assert isinstance(token["CreateTime"], GoTime) and token["ExpirationTime"] is None
    var = typed({"CreateTime": "2024-05-01T12:00:00Z", "Data": "AAE="}, "Variables")
    assert var["CreateTime"] == 1714564800 * 10**9 and var["Data"] == b"\x00\x01"
    idx = typed({"Key": "jobs", "Value": 300}, "Index")
    assert encode(idx).hex() == "82a34b6579a46a6f6273a556616c7565cd012c"
    tags = typed({"A": {"$uint": 200}, "B": {"$float32": 0.5}, "C": {"$time": "2024-05-01T12:00:00Z"},
                  "D": {"$bytes": "AAE="}, "E": {"$int": 5}, "F": {"$str": "2024-05-01T12:00:00Z"}})
    assert encode(tags["A"]).hex() == "ccc8" and isinstance(tags["B"], Float32)
    assert isinstance(tags["C"], GoTime) and tags["D"] == b"\x00\x01" and tags["F"] == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"ModifyIndex": -1}, "ModifyIndex"),
        ({"Hash": "not base64!"}, "Hash"),
        ({"A": {"$uint": -1}}, "A"),
        ({"A": {"$time": "yesterday"}}, "A"),
    ],
)
def test_typed_errors_name_the_field(body: dict, path: str) -> None:
    with pytest.raises(codec.ManifestValueError) as info:
        typed(body, "Job")
    assert info.value.path == path


_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["Name", "ID", "Count", "CreateIndex", "Version", "Meta", "Config", "Priority", "x", "Data"]), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_json)
def test_plain_inverts_typed(value: object) -> None:
    """typed -> encode -> decode -> plain -> typed gives the same bytes."""
    try:
        first = encode(typed(value, "Job"))
    except codec.ManifestValueError:
        return  # e.g. a negative number in an unsigned field: rejected, fine
    again = encode(typed(plain(decode(first), "Job"), "Job"))
    assert again == first
