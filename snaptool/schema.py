"""Record values against Nomad's Go types: what the typed restore checks.

Nomad's FSM restore decodes each record into its Go struct with go-msgpack,
then inserts it into the in-memory state store, whose indexes need some
fields. A record that is well-formed msgpack can still fail either step and
crash the restore. The types come from a description generated from Nomad's
own packages by reflection (``tests/oracle/schemadump``, committed as
``format/nomad_schema_1_6_1.json``); the rules below are go-msgpack's:

* nil decodes into anything (the zero value);
* a struct needs a map (keys are strings matched exactly; unknown keys are
  skipped) — an array is decoded by position, which snaptool does not model
  and reports; anything else fails;
* a string or ``[]byte`` needs a str/bin value; a bool a bool;
* an integer field needs an integer that fits (a negative value in an
  unsigned field fails; so does a float);
* a float field takes floats and integers;
* a ``time.Time`` needs its binary form: 15 bytes of version 1 or 16 of
  version 2;
* maps need maps, slices arrays; ``interface{}`` takes anything.

Then the state store: a UUID index needs a 36-character UUID, a string index
a non-empty string, unless the index allows it to be missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import msgpack

from .values import Ext

__all__ = ["TIME", "SchemaProblem", "Schema", "load_schema"]

#: A ``time.Time`` in a :meth:`Schema.time_plan`.
TIME = "time"

_MAX_PROBLEMS = 3
_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True)
class SchemaProblem:
    path: str
    message: str


class Schema:
    """Nomad's record types for one Nomad version."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version: str = data.get("nomad_version", "?")
        self.records: dict[int, dict[str, Any]] = {int(k): v for k, v in data["records"].items()}
        self.types: dict[str, dict[str, Any]] = data["types"]
        self.indexes: dict[int, list[dict[str, Any]]] = {
            int(k): v for k, v in data.get("indexes", {}).items()
        }
        # fields the restore fills in before inserting (Canonicalize and the
        # like): empty is fine there
        self.defaults: dict[int, frozenset[str]] = {
            int(k): frozenset(d["field"] for d in v)
            for k, v in data.get("restore_defaults", {}).items()
        }
        # field maps keyed by the wire's bytes, built once per struct type
        self._fields: dict[str, dict[bytes, dict[str, Any]]] = {
            name: {k.encode(): v for k, v in t.get("fields", {}).items()}
            for name, t in self.types.items()
        }

    @property
    def numbers(self) -> frozenset[int]:
        return frozenset(self.records)

    def check(self, number: int, value: Any) -> list[SchemaProblem]:
        """Problems Nomad's restore would hit with this record (raw=True value)."""
        desc = self.records.get(number)
        if desc is None:
            return []
        problems: list[SchemaProblem] = []
        self._check(desc, value, "", problems)
        if not problems and (isinstance(value, dict) or value is None) and "ref" in desc:
            # nil decodes into the zero struct, whose index fields are empty
            self._check_indexes(number, value or {}, problems)
        return problems

    def time_plan(self, number: int) -> Any:
        """Where a record of this type holds ``time.Time`` values, pruned to
        the fields that lead to one: ``TIME`` for a time; a dict of field
        name to plan for a struct; ``("[]", plan)`` for every item of a
        list; ``("{}", plan)`` for every value of a map. None: no time can
        be reached. A type met again on its own path is not followed (a
        cycle), so the plan is a guide for speed, not a promise."""
        desc = self.records.get(number)
        return None if desc is None else self._plan(desc, frozenset())

    def _plan(self, desc: dict[str, Any], seen: frozenset[str]) -> Any:
        if "ref" in desc:
            ref = desc["ref"]
            t = self.types.get(ref)
            if t is None or t.get("custom") or ref in seen:
                return None
            fields = {}
            for name, field in t.get("fields", {}).items():
                sub = self._plan(field, seen | {ref})
                if sub is not None:
                    fields[name] = sub
            return fields or None
        kind = desc.get("kind")
        if kind == "time":
            return TIME
        if kind == "ptr":
            return self._plan(desc["elem"], seen)
        if kind in ("slice", "array", "map"):
            sub = self._plan(desc["elem"], seen)
            return None if sub is None else ("{}" if kind == "map" else "[]", sub)
        return None

    # -- decoding ---------------------------------------------------------

    def _check(self, desc: dict[str, Any], v: Any, path: str, out: list[SchemaProblem]) -> None:
        if len(out) >= _MAX_PROBLEMS or v is None:
            return
        if "ref" in desc:
            ref = desc["ref"]
            t = self.types.get(ref)
            if t is None or t.get("custom"):
                return
            self._struct(ref, t, v, path, out)
            return
        if desc.get("custom"):
            return
        kind = desc["kind"]
        if kind == "interface":
            return
        if isinstance(v, _EXTENSIONS):
            out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes {_KIND_TEXT.get(kind, _a(kind))}"))
            return
        if kind == "struct":
            self._struct("", desc, v, path, out)
        elif kind in ("string", "bytes"):
            # go-msgpack also reads an array of small integers as the bytes
            if not isinstance(v, bytes) and not _byte_list(v):
                out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a {kind}"))
        elif kind == "bool":
            if not isinstance(v, bool):
                out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a bool"))
        elif kind in ("int", "uint"):
            self._integer(kind, desc.get("bits", 64), v, path, out)
        elif kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a float"))
        elif kind == "time":
            self._time(v, path, out)
        elif kind == "ptr":
            self._check(desc["elem"], v, path, out)
        elif kind == "map":
            if not isinstance(v, dict):
                out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a map"))
                return
            for k, item in v.items():
                self._check(desc["key"], k, f"{path}[key]", out)
                self._check(desc["elem"], item, f"{path}[{_show(k)}]", out)
        elif kind in ("slice", "array"):
            if not isinstance(v, (list, tuple)):
                out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a list"))
                return
            elem = desc["elem"]
            for i, item in enumerate(v):
                self._check(elem, item, f"{path}[{i}]", out)

    def _struct(self, name: str, t: dict[str, Any], v: Any, path: str, out: list[SchemaProblem]) -> None:
        if isinstance(v, _EXTENSIONS):
            out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a struct"))
            return
        if isinstance(v, (list, tuple)):
            if v:
                out.append(SchemaProblem(path, "an array where Nomad writes a map (decoded by position)"))
            return
        if not isinstance(v, dict):
            out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a struct (only a map or array can be)"))
            return
        fields = self._fields[name] if name else {k.encode(): f for k, f in t.get("fields", {}).items()}
        for k, item in v.items():
            if _byte_list(k):
                continue  # go-msgpack reads an array of bytes as a name: unknown, skipped
            if not isinstance(k, bytes):
                out.append(SchemaProblem(path, f"a map key that is {_a(_kind(k))}, not a string"))
                return
            desc = fields.get(k)
            if desc is not None:
                self._check(desc, item, f"{path}.{k.decode('utf-8', 'replace')}" if path else k.decode("utf-8", "replace"), out)

    def _integer(self, kind: str, bits: int, v: Any, path: str, out: list[SchemaProblem]) -> None:
        if isinstance(v, bool) or not isinstance(v, int):
            out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes an integer"))
            return
        if kind == "uint":
            if v < 0:
                out.append(SchemaProblem(path, f"{v} in an unsigned field"))
            elif v >= 1 << bits:
                out.append(SchemaProblem(path, f"{v} overflows uint{bits}"))
        elif not -(1 << (bits - 1)) <= v < 1 << (bits - 1):
            out.append(SchemaProblem(path, f"{v} overflows int{bits}"))

    def _time(self, v: Any, path: str, out: list[SchemaProblem]) -> None:
        if not isinstance(v, bytes):
            out.append(SchemaProblem(path, f"{_a(_kind(v))} where Nomad decodes a time"))
            return
        if not v:
            out.append(SchemaProblem(path, "an empty time value (Time.UnmarshalBinary: no data)"))
        elif v[0] not in (1, 2):
            out.append(SchemaProblem(path, f"a time value of version {v[0]} (Time.UnmarshalBinary: unsupported version)"))
        elif len(v) != (15 if v[0] == 1 else 16):
            out.append(SchemaProblem(path, f"a time value of {len(v)} bytes (Time.UnmarshalBinary: invalid length)"))

    # -- the state store ----------------------------------------------------

    def _check_indexes(self, number: int, value: dict[Any, Any], out: list[SchemaProblem]) -> None:
        defaulted = self.defaults.get(number, frozenset())
        for index in self.indexes.get(number, ()):
            indexer = index.get("indexer")
            missing_ok = index.get("allow_missing", False)
            if indexer == "uuid":
                field = index["field"]
                raw = value.get(field.encode())
                if _byte_list(raw):
                    raw = bytes(raw)
                if raw in (None, b""):
                    if not missing_ok:
                        out.append(SchemaProblem(field, "empty, but it is a required UUID index"))
                elif not isinstance(raw, bytes) or not _is_uuid(raw):
                    out.append(SchemaProblem(field, f"{_show(raw)} is not a UUID (memdb: Invalid UUID)"))
            elif _string_like(index) and not missing_ok:
                parts = index.get("parts") or [
                    {"field": f, "indexer": "string"} for f in index.get("fields") or [index["field"]]
                ]
                for part in parts:
                    field = part["field"]
                    if part.get("indexer") != "string" or field in defaulted:
                        continue  # uint parts are never missing
                    raw = value.get(field.encode())
                    if _byte_list(raw):
                        raw = bytes(raw)
                    if not isinstance(raw, bytes) or raw == b"":
                        out.append(SchemaProblem(field, "empty, but the state store indexes it (object missing primary index)"))
                        break


def _string_like(index: dict[str, Any]) -> bool:
    """String indexes, compounds of them, and the custom indexers the schema
    notes as string indexes (Variables' key_id)."""
    indexer = index.get("indexer")
    if indexer in ("string", "compound-string", "compound"):
        return True
    return indexer == "custom" and str(index.get("note", "")).startswith("string index")


def _is_uuid(raw: bytes) -> bool:
    return (
        len(raw) == 36
        and all(raw[i] == 0x2D for i in (8, 13, 18, 23))
        and all(c in _HEX for i, c in enumerate(raw) if i not in (8, 13, 18, 23))
    )


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _byte_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 256 for x in v
    )


#: msgpack extension values, which Nomad never writes (tuples in Python: they
#: are looked for before arrays).
_EXTENSIONS = (msgpack.ExtType, msgpack.Timestamp, Ext)

#: What a schema kind is called in a problem's text.
_KIND_TEXT = {"int": "an integer", "uint": "an integer", "slice": "a list", "array": "a list", "bytes": "a []byte"}


def _kind(v: Any) -> str:
    if isinstance(v, _EXTENSIONS):
        code = -1 if isinstance(v, msgpack.Timestamp) else v.code
        return f"msgpack extension value (type {code})"
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, bytes):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, dict):
        return "map"
    return type(v).__name__


def _show(v: Any) -> str:
    if isinstance(v, bytes):
        text = v[:40].decode("utf-8", "replace")
        return repr(text)
    return repr(v)[:40]


@lru_cache(maxsize=1)
def load_schema() -> Schema | None:
    """The bundled schema, or None when it is not there."""
    try:
        text = resources.files("snaptool.format").joinpath("nomad_schema_1_6_1.json").read_text()
    except (FileNotFoundError, OSError):
        return None
    return Schema(json.loads(text))
