"""Field-level comparison of two decoded objects: values shown as Nomad's JSON
would show them (secrets masked), and field paths (see :mod:`snaptool.diff`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ..values import go_time_text, is_binary, raw_bytes, rfc3339_nano


#: Seconds from 0001-01-01 to 1970-01-01 (Go binary times count from year 1).
_UNIX_FROM_YEAR1 = 62135596800

#: List-item identity fields, in order of preference.
_LIST_KEYS = ("Name", "ID", "Key", "Label")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_ITEM = re.compile(r"[A-Za-z0-9_.:@/-]+\Z")

#: int64 Unix nanoseconds from 1973 on, in fields named ``...Time``.
_MIN_NANOS = 10**17


# -- values -------------------------------------------------------------------


def _nanos_text(value: int) -> str:
    secs, nanos = divmod(value, 1_000_000_000)
    return rfc3339_nano(secs + _UNIX_FROM_YEAR1, nanos, 0)


def _binary_text(value: str | bytes) -> str:
    data = raw_bytes(value) if isinstance(value, str) else value
    return f"<{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:16]}>"


def render(value: Any, name: str = "", secrets: frozenset[str] = frozenset()) -> Any:
    """A decoded value as JSON shows it in a diff (see the module notes);
    ``name`` is the field it sits in (for int64 times), values of fields in
    ``secrets`` become ``"<secret>"``."""
    if isinstance(value, str):
        text = go_time_text(value)
        if text is not None:
            return text
        if is_binary(value):
            return _binary_text(value)
        return value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if name.endswith("Time") and _MIN_NANOS <= value < 2**63:
            return _nanos_text(value)
        return value
    if isinstance(value, dict):
        return {
            str(k): "<secret>" if k in secrets else render(v, str(k), secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [render(v, name, secrets) for v in value]
    if isinstance(value, bytes):
        return _binary_text(value)
    return repr(value)


# -- field-level comparison ------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One difference inside an object; ``old``/``new`` are rendered values
    (None when absent: see ``op``) and never set for a secret field."""

    path: str
    op: str  # changed | added | removed | reordered
    old: Any = None
    new: Any = None
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.secret:
            out["secret"] = True
            return out
        if self.op in ("changed", "removed", "reordered"):
            out["old"] = self.old
        if self.op in ("changed", "added", "reordered"):
            out["new"] = self.new
        return out


def _seg_field(path: str, key: Any) -> str:
    k = str(key)
    if _IDENT.match(k):
        return f"{path}.{k}" if path else k
    return f"{path}[{json.dumps(k, ensure_ascii=False)}]"


def _seg_item(path: str, ident: str) -> str:
    if _ITEM.match(ident) and not ident.isdigit():
        return f"{path}[{ident}]"
    return f"{path}[{json.dumps(ident, ensure_ascii=False)}]"


def _same_leaf(a: Any, b: Any) -> bool:
    # True == 1 and 1 == 1.0 in Python; in Go they are different values.
    return type(a) is type(b) and a == b


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return _same_leaf(a, b)


def _list_key(a: list[Any], b: list[Any]) -> str | None:
    items = a + b
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for name in _LIST_KEYS:
        if (
            all(isinstance(x.get(name), str) for x in items)
            and len({x[name] for x in a}) == len(a)
            and len({x[name] for x in b}) == len(b)
        ):
            return name
    return None


def _is_scalar(x: Any) -> bool:
    return not isinstance(x, (dict, list))


def diff_values(
    a: Any, b: Any, secrets: frozenset[str] = frozenset(), path: str = ""
) -> list[FieldChange]:
    """Field-level differences between two decoded values (see module notes)."""
    out: list[FieldChange] = []
    _walk(a, b, path, "", secrets, out)
    return out


def _walk(
    a: Any, b: Any, path: str, name: str, secrets: frozenset[str], out: list[FieldChange]
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k, va in a.items():
            p = _seg_field(path, k)
            secret = k in secrets
            if k not in b:
                out.append(FieldChange(p, "removed", None if secret else render(va, str(k), secrets),
                                       secret=secret))
            elif secret:
                if not _equal(va, b[k]):
                    out.append(FieldChange(p, "changed", secret=True))
            else:
                _walk(va, b[k], p, str(k), secrets, out)
        for k, vb in b.items():
            if k not in a:
                secret = k in secrets
                out.append(FieldChange(_seg_field(path, k), "added", None,
                                       None if secret else render(vb, str(k), secrets),
                                       secret=secret))
        return
    if isinstance(a, list) and isinstance(b, list):
        if all(_is_scalar(x) for x in a) and all(_is_scalar(x) for x in b):
            if not _equal(a, b):
                out.append(FieldChange(path, "changed", render(a, name, secrets),
                                       render(b, name, secrets)))
            return
        ident = _list_key(a, b)
        if ident is not None:
            _walk_keyed(a, b, path, ident, name, secrets, out)
            return
        for i in range(max(len(a), len(b))):
            p = f"{path}[{i}]"
            if i >= len(b):
                out.append(FieldChange(p, "removed", render(a[i], name, secrets)))
            elif i >= len(a):
                out.append(FieldChange(p, "added", None, render(b[i], name, secrets)))
            else:
                _walk(a[i], b[i], p, name, secrets, out)
        return
    if not _equal(a, b):
        out.append(FieldChange(path, "changed", render(a, name, secrets), render(b, name, secrets)))


def _walk_keyed(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    path: str,
    ident: str,
    name: str,
    secrets: frozenset[str],
    out: list[FieldChange],
) -> None:
    in_b = {x[ident]: x for x in b}
    in_a = {x[ident]: x for x in a}
    for item in a:
        p = _seg_item(path, item[ident])
        other = in_b.get(item[ident])
        if other is None:
            out.append(FieldChange(p, "removed", render(item, name, secrets)))
        else:
            _walk(item, other, p, name, secrets, out)
    for item in b:
        if item[ident] not in in_a:
            out.append(FieldChange(_seg_item(path, item[ident]), "added", None,
                                   render(item, name, secrets)))
    common_a = [x[ident] for x in a if x[ident] in in_b]
    common_b = [x[ident] for x in b if x[ident] in in_a]
    if common_a != common_b:
        out.append(FieldChange(path, "reordered", common_a, common_b))
