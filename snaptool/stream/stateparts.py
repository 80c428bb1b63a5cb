"""What the state.bin record walker hands out and reports: per-type and
whole-walk statistics, one record (:class:`RecordEvent`), a run of whole
records (:class:`Block`). Kept apart from :mod:`snaptool.stream.statewalk`,
which re-exports them, so that the walker's module is the walk alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Block", "OnBlock", "OnRecord", "RecordEvent", "StateStats", "TypeStats"]


@dataclass
class TypeStats:
    count: int = 0
    sum: int = 0
    first_index: int = 0
    first_offset: int = 0


@dataclass
class StateStats:
    """What one walk of state.bin found."""

    length: int = 0
    header: bytes | None = None
    header_size: int = 0
    records: int = 0
    types: dict[int, TypeStats] = field(default_factory=dict)
    #: the walk reached a clean end (a type byte position at end of data)
    complete: bool = False
    #: (type, record index, offset) of a record the walk stopped inside
    pending: tuple[int, int, int] | None = None


@dataclass(slots=True)
class RecordEvent:
    """One record: ``offset`` is its type byte's offset in state.bin, ``size``
    counts the type byte, ``raw`` is the msgpack value's bytes (with
    ``keep_raw``). One is made per record handed out: a slotted, unfrozen
    dataclass is made five times faster than a frozen one."""

    index: int
    type: int
    offset: int
    size: int
    raw: bytes | None
    #: the decoded value (msgpack ``raw=True``: str and bytes both as bytes,
    #: arrays as tuples), for types the walker was asked to decode
    value: Any = None
    #: how many records of this type came before it
    ordinal: int = 0


OnRecord = Callable[[RecordEvent], None]


@dataclass(frozen=True, slots=True)
class Block:
    """Whole records, as state.bin holds them: ``data`` starts with the type
    byte of record ``first`` (counted from 0), at ``offset`` in state.bin."""

    first: int
    offset: int
    data: bytes


OnBlock = Callable[[Block], None]
