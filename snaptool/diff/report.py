"""What a diff found (:class:`DiffReport` and its parts) and its JSON form,
schema ``snaptool.diff/1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..format.records import record_name
from ..meta import SnapshotMeta
from .fields import FieldChange


SCHEMA = "snaptool.diff/1"


# -- report --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaChange:
    field: str
    a: Any
    b: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "a": self.a, "b": self.b}


@dataclass
class TypeDelta:
    number: int
    name: str
    count_a: int = 0
    count_b: int = 0
    size_a: int = 0
    size_b: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.number,
            "name": self.name,
            "a": {"count": self.count_a, "size": self.size_a},
            "b": {"count": self.count_b, "size": self.size_b},
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
        }


@dataclass
class ObjectChange:
    op: str  # added | removed | changed
    number: int
    key: dict[str, Any]
    size_a: int | None = None
    size_b: int | None = None
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def name(self) -> str:
        return record_name(self.number)

    @property
    def id(self) -> str:
        if "#" in self.key:  # no natural key: the record's place among its type
            return f"#{self.key['#']}"
        return "/".join(str(v) for v in self.key.values())

    def sort_key(self) -> tuple[Any, ...]:
        return (self.number, tuple(str(v) for v in self.key.values()), self.op)

    def to_dict(self, with_changes: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op,
            "type": self.number,
            "name": self.name,
            "key": self.key,
            "id": self.id,
            "size": {"a": self.size_a, "b": self.size_b},
        }
        if self.op == "changed" and with_changes:
            out["changes"] = [c.to_dict() for c in self.changes]
        return out


@dataclass
class Side:
    """One archive as the diff read it."""

    path: str
    meta: SnapshotMeta | None
    problems: list[str]

    def meta_dict(self) -> dict[str, Any] | None:
        m = self.meta
        if m is None:
            return None
        return {
            "Version": m.Version,
            "ID": m.ID,
            "Index": m.Index,
            "Term": m.Term,
            "ConfigurationIndex": m.ConfigurationIndex,
            "Size": m.Size,
            "Servers": _servers(m),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "meta": self.meta_dict(), "problems": self.problems}


def _servers(m: SnapshotMeta) -> list[dict[str, Any]] | None:
    if m.Servers is None:
        return None
    return [{"ID": s.ID, "Address": s.Address, "Suffrage": s.suffrage_name} for s in m.Servers]


@dataclass
class DiffReport:
    a: Side
    b: Side
    meta: list[MetaChange]
    types: list[TypeDelta]
    objects: list[ObjectChange]
    filters: dict[str, list[str]]

    @property
    def filtered(self) -> bool:
        return any(self.filters.values())

    @property
    def same(self) -> bool:
        """No content difference in scope (see module notes)."""
        if self.objects:
            return False
        return self.filtered or not self.meta

    def summary(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0}
        for o in self.objects:
            out[o.op] += 1
        return out

    def to_dict(self, stat: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "same": self.same,
            "filters": self.filters,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "meta": [m.to_dict() for m in self.meta],
            "types": [t.to_dict() for t in self.types],
            "summary": self.summary(),
        }
        if not stat:
            out["objects"] = [o.to_dict() for o in self.objects]
        return out
