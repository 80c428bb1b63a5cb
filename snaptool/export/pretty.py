"""Indented JSON as ``json.dumps(obj, ensure_ascii=False, indent=n)`` writes
it, several times faster.

With an indent, the standard library leaves its C encoder for a pure-Python
generator that yields every token; the ``--document`` of a large snapshot
spent most of its time there. This writer hands every map and list that
holds only scalars to the C encoder in one call (with the separators of its
depth), appends the other items line by line, and remembers the text of map
keys it has seen. It prints what JSON read back would print: ``dict`` with
string keys, ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None``;
anything else raises :class:`Unprintable` (callers then take the standard
library's way).
"""

from __future__ import annotations

from json import encoder as _encoder
from json.encoder import encode_basestring
from typing import Any, Callable

__all__ = ["Unprintable", "indented"]

_INF = float("inf")

#: Map keys seen, as printed with their separator (bounded: keys of user
#: maps such as Meta can be many).
_KEY_TEXT: dict[str, str] = {}
_KEY_CACHE_MAX = 1 << 16


#: Types json's C encoder prints exactly as this writer does.
_FLAT = frozenset({str, int, float, bool, type(None)})

#: Scalars, maps and lists: what :func:`_mixed` prints.
_FLAT_OR_NESTED = _FLAT | {dict, list}

#: One C encoder per indentation: a map or list of scalars only is printed
#: by one call, its items separated by a comma and the line break.
_FLAT_ENCODERS: dict[str, Callable[[Any], str]] = {}


class Unprintable(Exception):
    """A value this writer does not print as ``json.dumps`` would."""


def indented(obj: Any, level: int, indent: int) -> str:
    """``json.dumps(obj, ensure_ascii=False, indent=indent)`` with every line
    after the first indented by ``level`` more steps."""
    unit = " " * indent
    out: list[str] = []
    _write(obj, "\n" + unit * level, unit, out)
    return "".join(out)


def _float_text(f: float) -> str:
    if f != f or f in (_INF, -_INF):
        # not JSON: the caller's reference path prints it as a string
        raise Unprintable("float")
    return float.__repr__(f)


def _scalar(v: Any, t: type) -> str:
    if t is str:
        return encode_basestring(v)
    if t is int:
        return int.__repr__(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is float:
        return _float_text(v)
    if isinstance(v, str):  # a masked secret: printed as its text
        return encode_basestring(v)
    raise Unprintable(t.__name__)


def _key_text(k: Any) -> str:
    text = _KEY_TEXT.get(k)
    if text is None:
        if type(k) is not str:
            raise Unprintable(f"map key of type {type(k).__name__}")
        text = encode_basestring(k) + ": "
        if len(_KEY_TEXT) < _KEY_CACHE_MAX:
            _KEY_TEXT[k] = text
    return text


def _write(obj: Any, newline: str, unit: str, out: list[str]) -> None:
    t = type(obj)
    if t is dict:
        _write_dict(obj, newline, unit, out)
    elif t is list:
        _write_list(obj, newline, unit, out)
    else:
        out.append(_scalar(obj, t))


def _flat_encoder(inner: str) -> Callable[[Any], str] | None:
    """The C encoder for items at ``inner`` (None without json's C part)."""
    found = _FLAT_ENCODERS.get(inner)
    if found is None and _encoder.c_make_encoder is not None:
        make = _encoder.c_make_encoder(None, None, encode_basestring, None, ": ", "," + inner, False, False, False)
        found = _FLAT_ENCODERS[inner] = lambda value: "".join(make(value, 0))
    return found


def _write_dict(d: dict[Any, Any], newline: str, unit: str, out: list[str]) -> None:
    if not d:
        out.append("{}")
        return
    inner = newline + unit
    flat = _flat_encoder(inner)
    if flat is not None and _FLAT.issuperset(map(type, d)):
        types = list(map(type, d.values()))
        if _FLAT.issuperset(types):
            out.append("{" + inner + flat(d)[1:-1] + newline + "}")
            return
        if _FLAT_OR_NESTED.issuperset(types):
            parts = _mixed(d.copy(), list(d), types, inner, unit, flat)
            out.append("{" + inner + ("," + inner).join(parts) + newline + "}")
            return
    sep = "{" + inner
    for k, v in d.items():
        t = type(v)
        if t is dict or t is list:
            out.append(sep + _key_text(k))
            _write(v, inner, unit, out)
        else:
            out.append(sep + _key_text(k) + _scalar(v, t))
        sep = "," + inner
    out.append(newline + "}")


def _write_list(items: list[Any], newline: str, unit: str, out: list[str]) -> None:
    if not items:
        out.append("[]")
        return
    inner = newline + unit
    flat = _flat_encoder(inner)
    if flat is not None:
        types = list(map(type, items))
        if _FLAT.issuperset(types):
            out.append("[" + inner + flat(items)[1:-1] + newline + "]")
            return
        if _FLAT_OR_NESTED.issuperset(types):
            parts = _mixed(list(items), range(len(items)), types, inner, unit, flat)
            out.append("[" + inner + ("," + inner).join(parts) + newline + "]")
            return
    sep = "[" + inner
    for v in items:
        t = type(v)
        if t is dict or t is list:
            out.append(sep)
            _write(v, inner, unit, out)
        else:
            out.append(sep + _scalar(v, t))
        sep = "," + inner
    out.append(newline + "]")


def _mixed(
    shallow: Any, keys: Any, types: list[type], inner: str, unit: str, flat: Callable[[Any], str]
) -> list[str]:
    """The items of a map or list (``shallow``, a copy) holding maps or
    lists among scalars: one C call prints it with the nested values as
    ``null``, then each nested value is printed into its item. The C
    output splits into items exactly, as a raw line break only ever
    follows an item's comma (strings escape theirs)."""
    nested = [i for i, t in enumerate(types) if t is dict or t is list]
    values = [shallow[keys[i]] for i in nested]
    for i in nested:
        shallow[keys[i]] = None
    parts = flat(shallow)[1:-1].split("," + inner)
    for i, value in zip(nested, values):
        sub: list[str] = []
        _write(value, inner, unit, sub)
        parts[i] = (_key_text(keys[i]) if type(shallow) is dict else "") + "".join(sub)
    return parts
