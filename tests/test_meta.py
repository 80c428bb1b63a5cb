"""meta.json decoded with Go encoding/json semantics (FORMAT-NOTES.md 1.2, 2)."""

from __future__ import annotations

import pytest

from snaptool.meta import MetaError, SnapshotMeta, go_json

REAL = (
    b'{"Version":1,"ID":"2-13-1602222343947","Index":13,"Term":2,'
    b'"Peers":"ka4xMjcuMC4wLjE6ODMwMA==","Configuration":{"Servers":[{"Suffrage":0,'
    b'"ID":"a577b288-b354-770e-e909-da0972eb20e8","Address":"127.0.0.1:8300"}]},'
    b'"ConfigurationIndex":1,"Size":5141}\n'
)


def test_real_meta_round_trips_byte_for_byte() -> None:
    meta = SnapshotMeta.parse(REAL)
    assert (meta.Version, meta.Index, meta.Term, meta.Size) == (1, 13, 2, 5141)
    assert meta.peer_addresses() == ["127.0.0.1:8300"]
    assert meta.Servers is not None and meta.Servers[0].Address == "127.0.0.1:8300"
    assert go_json(meta) == REAL


def test_keys_match_case_insensitively_and_unknown_keys_are_ignored() -> None:
    meta = SnapshotMeta.parse(b'{"index": 7, "SIZE": 3, "Extra": {"x": 1}}')
    assert (meta.Index, meta.Size) == (7, 3)
    assert meta.folded_keys == ["index", "SIZE"]
    assert meta.unknown_keys == ["Extra"]


def test_peers_of_no_voters_is_msgpack_nil() -> None:
    assert SnapshotMeta.parse(b'{"Peers":"wA=="}').peer_addresses() == []


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"{",
        b'{"Index": -1}',  # uint64
        b'{"Index": 1.0}',
        b'{"Index": 1e3}',
        b'{"Index": "1"}',
        b'{"Version": NaN}',
        b'{"Size": 9223372036854775808}',  # int64 overflow
        b'{"Peers": "not base64!"}',
        b"[]",
        b"{} x",  # trailing data
        b"\xef\xbb\xbf{}",  # byte-order mark
    ],
)
def test_go_rejects(text: bytes) -> None:
    with pytest.raises(MetaError):
        SnapshotMeta.parse(text)


@pytest.mark.parametrize("text", [b"{}", b"null", b' {"Index": null} \n\t', b'{"Index":18446744073709551615}'])
def test_go_accepts(text: bytes) -> None:
    SnapshotMeta.parse(text)
