"""Records rendered block by block, fast, with the bytes of the reference path.

The reference path (:func:`render_stored`, :func:`render_document`, then
``json.dumps``) builds a new value for every value of every record in
Python, which made ``snaptool state`` ten times slower than decoding. Here a
record is decoded once, the few strings that print differently (Go times,
non-UTF-8 strings, ``[]byte`` fields, secrets) are replaced *in place*, and
a C encoder writes the rest. For JSON lines of known types only the fields
that Nomad's schema says may change are visited, and orjson writes the
value; what would still print otherwise is looked for in its output (see
:func:`_value_text`), and such a record goes through the whole walk and
json's encoder instead.

Whatever this path does not reproduce exactly (a map key that is not a
string, msgpack bin or ext values, a key that is not UTF-8, ...) raises
inside the fast attempt; that record is then rendered again from its raw
bytes by the reference path, which prints it, or fails, as it always did.

A block renders to its text and the error of the first record that failed
(records after it are not rendered): the caller writes the text, then raises
the error, so the output stops where the reference path's would.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgpack

try:  # a compiled JSON writer; without it (PyPy, say) json's C encoder
    import orjson
except ImportError:  # pragma: no cover - a dependency on CPython
    orjson = None

from ..errors import SnaptoolError
from ..format.records import by_number, record_name
from ..schema import TIME, load_schema
from ..stream.statewalk import Block
from ..values import ESCAPE_ERRORS, decode, ext_hook
from .pretty import indented
from .rendering import (
    _BYTE_KEYS,
    NESTED_RULE_KEYS,
    Masked,
    _plain_fast,
    b64,
    document_shape,
    mask_secrets,
    plain,
    render_document,
    render_stored,
)
from .selection import NOMAD_TABLES, ROOT_KEYS_TABLE, RecordFilter, table_of

#: One record as the parent hands it on: index, type number, offset, size
#: (type byte included) and the msgpack value's bytes.
Record = tuple[int, int, int, int, bytes]

_LEAVES = frozenset({int, bool, float, type(None), Masked})


def records_of(block: Block) -> list[Record]:
    """A block's records, framed again as the walker framed them (the type
    byte, then one msgpack value stepped over with ``skip``)."""
    data = block.data
    up = msgpack.Unpacker(raw=True, use_list=False, strict_map_key=False, max_buffer_size=max(len(data), 1 << 20))
    up.feed(data)
    read, skip, tell = up.read_bytes, up.skip, up.tell
    out: list[Record] = []
    n, base, start, end = block.first, block.offset, 0, len(data)
    while start < end:
        t = read(1)[0]
        skip()
        stop = tell()
        out.append((n, t, base + start, stop - start, data[start + 1 : stop]))
        n += 1
        start = stop
    return out


def _compact_encoder() -> Any:
    """``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` as one
    C call per value (no encoder object built per record)."""
    from json import encoder

    if encoder.c_make_encoder is None:  # pragma: no cover - CPython has it
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    # allow_nan False: a NaN or infinity raises, and the record takes the
    # reference path, which prints it as a string (JSON has no NaN)
    make = encoder.c_make_encoder(None, None, encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(make(value, 0))


_dumps_compact = _compact_encoder()


def _dumps(obj: Any) -> str:
    """The reference path's JSON (also the fallback's)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------
# values fixed in place


class _Slow(Exception):
    """A value the fast path does not reproduce exactly."""


def _fix_dict(d: dict[Any, Any]) -> None:
    """Replace, in place, the values :func:`plain` would print differently;
    raise :class:`_Slow` on any type it does not know."""
    for k, v in d.items():
        t = type(v)
        if t is str:
            if v >= "\x03" and v.isascii():
                continue
            if v:  # binary, or maybe a Go time
                d[k] = _plain_fast(v)
        elif t is dict:
            _fix_dict(v)
        elif t is list:
            _fix_list(v)
        elif t not in _LEAVES:
            raise _Slow


def _fix_list(items: list[Any]) -> None:
    """:func:`_fix_dict` for a list (written out twice: the hot path of state)."""
    for i, v in enumerate(items):
        t = type(v)
        if t is str:
            if v >= "\x03" and v.isascii():
                continue
            if v:  # binary, or maybe a Go time
                items[i] = _plain_fast(v)
        elif t is dict:
            _fix_dict(v)
        elif t is list:
            _fix_list(v)
        elif t not in _LEAVES:
            raise _Slow


@lru_cache(maxsize=None)
def _byte_steps(type_number: int) -> tuple[tuple[str, ...], ...]:
    """``[]byte`` paths of a type as steps (``[]``: every list item)."""
    keys = _BYTE_KEYS.get(type_number, frozenset())
    return tuple(tuple(p for p in key.replace("[]", ".[]").split(".") if p) for key in sorted(keys))


def _b64_at(obj: Any, steps: tuple[str, ...]) -> None:
    """Base64 the str at ``steps`` (as :func:`plain` does with byte_keys)."""
    head, rest = steps[0], steps[1:]
    if head == "[]":
        if type(obj) is list and rest:
            for item in obj:
                _b64_at(item, rest)
        return
    if type(obj) is not dict or head not in obj:
        return
    if rest:
        _b64_at(obj[head], rest)
    elif type(obj[head]) is str:
        obj[head] = b64(obj[head])


def _fix_record(type_number: int, value: Any, known: bool, show_secrets: bool) -> Any:
    """``render_stored`` (known types) or ``plain`` (unknown ones), done in
    place on a strictly decoded value."""
    if known:
        if not show_secrets:
            mask_secrets(value, type_number)
        for steps in _byte_steps(type_number):
            _b64_at(value, steps)
    t = type(value)
    if t is dict:
        _fix_dict(value)
    elif t is list:
        _fix_list(value)
    elif t is str:
        return _plain_fast(value)
    elif t not in _LEAVES:
        raise _Slow
    return value


@lru_cache(maxsize=None)
def _time_plan(type_number: int) -> Any:
    """Where Nomad's type for these records keeps ``time.Time`` values."""
    schema = load_schema()
    return None if schema is None else schema.time_plan(type_number)


def _fix_times(obj: Any, plan: Any) -> None:
    """The strings at the plan's time fields of ``obj`` (a map or a list),
    in place, as :func:`plain` prints them."""
    if type(plan) is dict:
        if type(obj) is dict:
            for key, sub in plan.items():
                if key in obj:
                    if sub is TIME:
                        if type(obj[key]) is str:
                            obj[key] = _plain_fast(obj[key])
                    else:
                        _fix_times(obj[key], sub)
        return
    kind, sub = plan
    if kind == "[]" and type(obj) is list:
        pairs: Any = enumerate(obj)
    elif kind == "{}" and type(obj) is dict:
        pairs = obj.items()
    else:
        return
    if sub is TIME:
        for key, item in pairs:
            if type(item) is str:
                obj[key] = _plain_fast(item)
    else:
        for _key, item in pairs:
            _fix_times(item, sub)


#: A msgpack float is byte 0xca or 0xcb and its bytes. One that is NaN or
#: an infinity (exponent bits all set) goes to json's encoder, which refuses
#: it (orjson writes null): the reference path prints it as a string.
_NONFINITE = re.compile(rb"\xcb[\x7f\xff][\xf0-\xff]|\xca[\x7f\xff][\x80-\xff]")


def _may_be_nonfinite(raw: bytes) -> bool:
    """Whether ``raw`` may hold a NaN or an infinity (searched only where
    a marker and a byte of all-ones exponent bits meet)."""
    return (
        b"\xcb\x7f" in raw or b"\xcb\xff" in raw or b"\xca\x7f" in raw or b"\xca\xff" in raw
    ) and _NONFINITE.search(raw) is not None


#: orjson writes some floats unlike Python's repr (1e-05 as 0.00001, 1e+16
#: as 1e16); each such float in its output matches this (so do others, and
#: text in strings: they only take the longer way).
#: tests/test_export_parallel.py holds orjson to that.
RISKY_FLOAT = re.compile(rb"[:,\[][ \n]*-?(?:0\.0000|[0-9.]+e)")
_INDENT_2 = 0 if orjson is None else orjson.OPT_INDENT_2
#: orjson's escapes of a string that starts with byte 1 or 2 (a Go time the
#: plan did not know of): the whole walk is needed then.
_TIME_STARTS = (b'"\\u0001', b'"\\u0002')


def _value_text(type_number: int, value: Any, known: bool, show_secrets: bool, raw: bytes) -> str:
    """The JSON text of a record's Value, as ``_dumps(render_stored(...))``
    (known types) or ``_dumps(plain(...))`` writes it; raises what the
    fast path does not reproduce. Changes ``value``."""
    floats = _orjson_prepared(type_number, value, known, show_secrets, raw)
    if floats is None:
        return _dumps_compact(_fix_record(type_number, value, known, show_secrets))
    out = _orjson_text(value, floats, 0)
    if out is not None:
        return out.decode()
    _fix_dict(value)  # secrets, []byte fields and times are done: the rest
    return _dumps_compact(value)


def _orjson_prepared(type_number: int, value: Any, known: bool, show_secrets: bool, raw: bytes) -> bool | None:
    """Ready ``value`` for orjson: None when it cannot be (no orjson, not a
    map of a known type, maybe a NaN or an infinity); else its secrets,
    ``[]byte`` paths and (from Nomad's schema) time fields are fixed in
    place, and the answer is whether ``raw`` may hold a float.

    Whatever else the full walk would change is a string that starts with
    byte 1 or 2 (orjson escapes it, and :func:`_orjson_text` looks for
    that) or that is not UTF-8 (orjson refuses it)."""
    floats = b"\xca" in raw or b"\xcb" in raw
    if orjson is None or not known or type(value) is not dict or (floats and _may_be_nonfinite(raw)):
        return None
    if not show_secrets:
        mask_secrets(value, type_number)
    for steps in _byte_steps(type_number):
        _b64_at(value, steps)
    plan = _time_plan(type_number)
    if plan is not None:
        _fix_times(value, plan)
    return floats


def _orjson_text(value: Any, floats: bool, option: int) -> bytes | None:
    """orjson's text of a value :func:`_orjson_prepared` readied, or None
    when it is not what json's encoder would write after the full walk."""
    try:
        out = orjson.dumps(value, option=option)
    except TypeError:  # orjson.JSONEncodeError: a string that is not UTF-8, a key not a string, ...
        return None
    if b"\\u000" in out and (_TIME_STARTS[0] in out or _TIME_STARTS[1] in out):
        return None
    if floats and RISKY_FLOAT.search(out):
        return None
    return out


def _decode_strict(raw: bytes) -> Any:
    """:func:`snaptool.values.decode` with string map keys only: any other
    key raises, so the fast path never meets one."""
    return msgpack.unpackb(raw, raw=False, unicode_errors=ESCAPE_ERRORS, ext_hook=ext_hook)


# --------------------------------------------------------------------------
# blocks


@dataclass(frozen=True)
class BlockOptions:
    """What every block of one run is rendered with."""

    document: bool = False
    show_secrets: bool = False
    flt: RecordFilter = field(default_factory=RecordFilter)
    nomad_tables: bool = False
    indent: int = 2
    #: the filter looks at decoded values (asked once, not per record)
    by_value: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_value", self.flt.needs_value)


@lru_cache(maxsize=None)
def _line_format(type_number: int) -> tuple[str, bool]:
    """The JSON line around a record's Value, as a %-format of index,
    offset, size and the Value's text; and whether Nomad knows the type."""
    name = json.dumps(record_name(type_number), ensure_ascii=False).replace("%", "%%")
    head = '{"Index":%d,"Type":' + name + ',"TypeNumber":' + str(type_number) + ',"Offset":%d,"Size":%d,"Value":%s'
    return head, by_number(type_number) is not None


def _line_reference(rec: Record, opts: BlockOptions) -> str | None:
    """One JSON line as the reference path makes it (None: filtered out)."""
    index, t, offset, size, raw = rec
    flt = opts.flt
    value = decode(raw)
    if flt.needs_value and not flt.value_ok(t, value):
        return None
    known = by_number(t) is not None
    shown = render_stored(t, value, show_secrets=opts.show_secrets) if known else plain(value)
    if not flt.where_ok(shown):
        return None
    line: dict[str, Any] = {
        "Index": index, "Type": record_name(t), "TypeNumber": t, "Offset": offset, "Size": size, "Value": shown,
    }
    if not known:
        line["Raw"] = base64.b64encode(raw).decode()
    return _dumps(line)


def _line_fast(rec: Record, opts: BlockOptions) -> str | None:
    index, t, offset, size, raw = rec
    value = _decode_strict(raw)
    if opts.by_value and not opts.flt.value_ok(t, value):
        return None
    head, known = _line_format(t)
    text = head % (index, offset, size, _value_text(t, value, known, opts.show_secrets, raw))
    if not text.isascii():
        text.encode("utf-8")  # a map key that is not UTF-8: the reference path writes U+FFFD
    if known:
        return text + "}"
    return text + ',"Raw":"' + base64.b64encode(raw).decode() + '"}'


def _render_all(
    records: list[Record], opts: BlockOptions, fast: Callable[[Record, BlockOptions], Any],
    reference: Callable[[Record, BlockOptions], Any],
) -> tuple[list[Any], BaseException | None]:
    """Each record's rendering (None: filtered out), and the error of the
    record that stopped the block. ``--where`` is judged on the reference
    path's values, so with it every record takes that path."""
    if opts.flt.where:
        fast = reference
    out: list[Any] = []
    for rec in records:
        try:
            item = _attempt(fast, reference, rec, opts)
        except RecursionError:  # msgpack decodes up to 1024 levels; Python's printers recurse less deep
            index, t, offset = rec[:3]
            return out, SnaptoolError(
                f"record {index} (type {t}, offset {offset}) is nested too deeply to print as JSON", where="state.bin"
            )
        except Exception as exc:  # noqa: BLE001 - raised by the caller, in order
            return out, exc
        if item is not None:
            out.append(item)
    return out, None


def _attempt(
    fast: Callable[[Record, BlockOptions], Any], reference: Callable[[Record, BlockOptions], Any],
    rec: Record, opts: BlockOptions,
) -> Any:
    if fast is not reference:
        try:
            return fast(rec, opts)
        except Exception:  # noqa: BLE001, S110 - the reference path decides
            pass
    return reference(rec, opts)


def render_lines(records: list[Record], opts: BlockOptions) -> tuple[list[str], BaseException | None]:
    """The JSON lines (without newlines) of a block, and the error of the
    record that stopped it."""
    return _render_all(records, opts, _line_fast, _line_reference)


def _keeps_table(table: str, opts: BlockOptions) -> bool:
    return not opts.nomad_tables or table in NOMAD_TABLES or table == ROOT_KEYS_TABLE


def _entry(rec: Record, obj: Any, table: str) -> Any:
    """The object a record adds to its table (unknown types: their raw bytes)."""
    if table != "Unknown":
        return obj
    _index, t, offset, size, raw = rec
    return {"TypeNumber": t, "Offset": offset, "Size": size, "Raw": base64.b64encode(raw).decode()}


def _doc_reference(rec: Record, opts: BlockOptions) -> tuple[str, bytes] | None:
    """(table, entry) as the reference path makes it: compact JSON (which
    must encode as UTF-8, as the reference's spool file needs), read back,
    printed indented."""
    _index, t, _offset, _size, raw = rec
    flt = opts.flt
    value = decode(raw)
    if flt.needs_value and not flt.value_ok(t, value):
        return None
    known = by_number(t) is not None
    shown = render_document(t, value, show_secrets=opts.show_secrets) if known else plain(value)
    if not flt.where_ok(shown):
        return None
    table = table_of(t)
    if not _keeps_table(table, opts):
        return None
    compact = _dumps(_entry(rec, shown, table))
    compact.encode("utf-8")
    text = json.dumps(json.loads(compact), ensure_ascii=False, indent=opts.indent)
    return table, _spooled(text.replace("\n", "\n" + " " * (2 * opts.indent)), opts)


def _doc_fast(rec: Record, opts: BlockOptions) -> tuple[str, bytes] | None:
    _index, t, _offset, _size, raw = rec
    value = _decode_strict(raw)
    if opts.by_value and not opts.flt.value_ok(t, value):
        return None
    known = by_number(t) is not None
    if opts.indent == 2:  # orjson indents by two spaces only
        floats = _orjson_prepared(t, value, known, opts.show_secrets, raw)
        if floats is not None:
            shaped = document_shape(t, value, nested_rules=any(key in raw for key in NESTED_RULE_KEYS))
            table = table_of(t)
            if not _keeps_table(table, opts):
                return None
            out = _orjson_text(_entry(rec, shaped, table), floats, _INDENT_2)
            if out is not None:
                return table, _spooled(out.decode().replace("\n", "\n    "), opts)
            value = _decode_strict(raw)  # again, for the long way
    shown = _fix_record(t, value, known, opts.show_secrets)
    if known:
        shown = document_shape(t, shown, nested_rules=any(key in raw for key in NESTED_RULE_KEYS))
    table = table_of(t)
    if not _keeps_table(table, opts):
        return None
    return table, _spooled(indented(_entry(rec, shown, table), 2, opts.indent), opts)


def _spooled(text: str, opts: BlockOptions) -> bytes:
    """One object as its table's spool keeps it: a comma and the line break
    before it (the first object's comma is dropped when the document is
    assembled)."""
    return (",\n" + " " * (2 * opts.indent) + text).encode("utf-8")


def render_entries(
    records: list[Record], opts: BlockOptions
) -> tuple[list[tuple[str, bytes]], BaseException | None]:
    """The document objects of a block as (table, spooled text), and the
    error of the record that stopped it."""
    return _render_all(records, opts, _doc_fast, _doc_reference)
