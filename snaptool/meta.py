"""``raft.SnapshotMeta``: meta.json decoded with Go's ``encoding/json`` rules.

Nomad reads meta.json with ``json.Unmarshal`` into a ``raft.SnapshotMeta``:

* unknown keys are ignored; a key matches a field exactly or, failing that,
  case-insensitively (``"index"`` sets ``Index``); of duplicate keys the last
  wins;
* a number must fit its field's Go type (``Index`` is uint64, ``Size`` int64,
  ``Version`` int); ``1.0`` or ``1e3`` in an integer field is an error, as
  is a string, but ``null`` leaves the field alone;
* ``Peers`` is ``[]byte``: base64 (standard, padded) or ``null``;
* NaN, Infinity and a leading byte-order mark are errors, and so is any
  non-space byte after the object.

:class:`SnapshotMeta` holds the result; :meth:`SnapshotMeta.parse` raises
:class:`MetaError` with Go-like text where Go's decoder would fail.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["MetaError", "Server", "SnapshotMeta", "decode_peers", "go_json"]

_INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "uint64": (0, (1 << 64) - 1),
}

_FIELDS = {
    "Version": "int",
    "ID": "string",
    "Index": "uint64",
    "Term": "uint64",
    "Peers": "bytes",
    "Configuration": "configuration",
    "ConfigurationIndex": "uint64",
    "Size": "int64",
}

_SERVER_FIELDS = {"Suffrage": "int", "ID": "string", "Address": "string"}

SUFFRAGE = {0: "Voter", 1: "Nonvoter", 2: "Staging"}

_BASE64 = re.compile(r"[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class _Object(dict):  # type: ignore[type-arg]
    """A JSON object that remembers every key/value pair, duplicates included:
    Go decodes each occurrence in turn, so each one must fit the field."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    obj.pairs = pairs
    return obj


class MetaError(ValueError):
    """meta.json that Go's ``json.Unmarshal`` refuses."""


class _Number(str):
    """A JSON number kept as its literal text (Go checks it per field type)."""


def _fold(key: str) -> str:
    # Go's fold for struct field matching: ASCII case-insensitive, plus the
    # Kelvin sign and long s that fold to k and s.
    return key.replace("\u212a", "k").replace("\u017f", "s").lower()


def _match(obj: dict[str, Any], fields: dict[str, str]) -> list[tuple[str, Any]]:
    """Pick the fields out of a decoded JSON object as Go would: every
    occurrence, in order (the last one wins, but each must decode)."""
    out: list[tuple[str, Any]] = []
    folded = {_fold(name): name for name in fields}
    for key, value in getattr(obj, "pairs", obj.items()):
        name = key if key in fields else folded.get(_fold(key))
        if name is not None:
            out.append((name, value))
    return out


def _convert(value: Any, kind: str, path: str) -> Any:
    if value is None:
        return None
    if kind in _INT_RANGES:
        if not isinstance(value, _Number):
            raise MetaError(f"cannot unmarshal {_json_kind(value)} into {path} of type {kind}")
        lo, hi = _INT_RANGES[kind]
        if lo == 0 and value.startswith("-"):
            raise MetaError(f"cannot unmarshal number {value} into {path} of type {kind}")
        try:
            number = int(value, 10)
        except ValueError:
            raise MetaError(f"cannot unmarshal number {value} into {path} of type {kind}") from None
        if not lo <= number <= hi:
            raise MetaError(f"cannot unmarshal number {value} into {path} of type {kind}")
        return number
    if kind == "string":
        if not isinstance(value, str) or isinstance(value, _Number):
            raise MetaError(f"cannot unmarshal {_json_kind(value)} into {path} of type string")
        return value
    if kind == "bytes":
        if not isinstance(value, str) or isinstance(value, _Number):
            raise MetaError(f"cannot unmarshal {_json_kind(value)} into {path} of type []uint8")
        # Go's base64.StdEncoding: CR and LF are skipped; the rest must be whole
        # four-character quanta, with "=" padding only at the very end.
        cleaned = value.replace("\r", "").replace("\n", "")
        if len(cleaned) % 4 or not _BASE64.fullmatch(cleaned):
            raise MetaError(f"illegal base64 data in {path}")
        try:
            return base64.b64decode(cleaned.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise MetaError(f"illegal base64 data in {path}") from None
    raise AssertionError(kind)


def _json_kind(value: Any) -> str:
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _reject_constant(name: str) -> Any:
    raise MetaError(f"invalid character {name[0]!r} looking for beginning of value")


@dataclass(frozen=True)
class Server:
    """One entry of ``Configuration.Servers``."""

    Suffrage: int = 0
    ID: str = ""
    Address: str = ""

    @property
    def suffrage_name(self) -> str:
        return SUFFRAGE.get(self.Suffrage, f"Suffrage({self.Suffrage})")


@dataclass
class SnapshotMeta:
    """Raft's snapshot metadata, field names as in Go."""

    Version: int = 0
    ID: str = ""
    Index: int = 0
    Term: int = 0
    Peers: bytes | None = None
    Servers: list[Server] | None = None
    ConfigurationIndex: int = 0
    Size: int = 0
    #: keys Go matched only case-insensitively, and keys it ignored
    folded_keys: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes, onto: SnapshotMeta | None = None) -> SnapshotMeta:
        """Decode meta.json bytes; ``onto`` merges as a second Unmarshal does."""
        meta = onto if onto is not None else cls()
        obj = _loads(data)
        if obj is None:
            return meta
        if not isinstance(obj, dict):
            raise MetaError(f"cannot unmarshal {_json_kind(obj)} into Go value of type raft.SnapshotMeta")
        for key in obj:
            if key not in _FIELDS:
                if _fold(key) in {_fold(f) for f in _FIELDS}:
                    meta.folded_keys.append(key)
                else:
                    meta.unknown_keys.append(key)
        for name, value in _match(obj, _FIELDS):
            kind = _FIELDS[name]
            path = f"Go struct field SnapshotMeta.{name}"
            if kind == "configuration":
                meta._set_configuration(value)
            elif value is not None:
                setattr(meta, name, _convert(value, kind, path))
        return meta

    def _set_configuration(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise MetaError(
                f"cannot unmarshal {_json_kind(value)} into Go struct field "
                "SnapshotMeta.Configuration of type raft.Configuration"
            )
        matched = _match(value, {"Servers": "servers"})
        for _, candidate in matched[:-1]:
            self._servers(candidate)  # earlier occurrences must decode too
        if not matched:
            return
        self._servers(matched[-1][1])

    def _servers(self, servers: Any) -> None:
        if servers is None:
            self.Servers = None
            return
        if not isinstance(servers, list):
            raise MetaError(
                f"cannot unmarshal {_json_kind(servers)} into Go struct field "
                "Configuration.Configuration.Servers of type []raft.Server"
            )
        parsed = []
        for item in servers:
            if item is None:
                parsed.append(Server())
                continue
            if not isinstance(item, dict):
                raise MetaError(
                    f"cannot unmarshal {_json_kind(item)} into Go struct field "
                    "Configuration.Configuration.Servers of type raft.Server"
                )
            values = {
                name: _convert(v, _SERVER_FIELDS[name], f"Go struct field Server.{name}")
                for name, v in _match(item, _SERVER_FIELDS)
                if v is not None
            }
            parsed.append(Server(**values))
        self.Servers = parsed

    @property
    def created(self) -> datetime | None:
        """The time in the ID ``<term>-<index>-<unix ms>``, as inspect shows it."""
        parts = self.ID.split("-")
        if len(parts) != 3:
            return None
        try:
            millis = int(parts[2])
            return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None

    def peer_addresses(self) -> list[str] | None:
        return decode_peers(self.Peers)

    def to_nomad_json(self) -> dict[str, Any]:
        """The ``Meta`` object of ``nomad operator snapshot inspect -json``."""
        servers = None
        if self.Servers is not None:
            servers = [
                {"Address": s.Address, "ID": s.ID, "Suffrage": s.Suffrage}
                for s in self.Servers
            ]
        return {
            "Configuration": {"Servers": servers},
            "ConfigurationIndex": self.ConfigurationIndex,
            "ID": self.ID,
            "Index": self.Index,
            "Peers": base64.b64encode(self.Peers).decode() if self.Peers is not None else None,
            "Size": self.Size,
            "Term": self.Term,
            "Version": self.Version,
        }


def go_json(meta: SnapshotMeta) -> bytes:
    """meta.json as Nomad writes it: ``json.NewEncoder(w).Encode(meta)``."""
    servers = None
    if meta.Servers is not None:
        servers = [{"Suffrage": s.Suffrage, "ID": s.ID, "Address": s.Address} for s in meta.Servers]
    obj = {
        "Version": meta.Version,
        "ID": meta.ID,
        "Index": meta.Index,
        "Term": meta.Term,
        "Peers": base64.b64encode(meta.Peers).decode() if meta.Peers is not None else None,
        "Configuration": {"Servers": servers},
        "ConfigurationIndex": meta.ConfigurationIndex,
        "Size": meta.Size,
    }
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode("utf-8", "replace") + b"\n"


def _loads(data: bytes) -> Any:
    # Go replaces invalid UTF-8 inside strings with U+FFFD; elsewhere such a
    # byte is a syntax error either way.
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        raise MetaError(f"{exc.msg} at byte {exc.pos}") from None
    except RecursionError:
        raise MetaError("exceeded max depth") from None


def decode_peers(peers: bytes | None) -> list[str] | None:
    """Decode raft's deprecated Peers: a msgpack array of address strings."""
    if not peers:
        return None
    import msgpack

    try:
        value = msgpack.unpackb(peers, raw=True)
    except Exception:  # noqa: BLE001 - any decode failure means "not decodable"
        return None
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value]
