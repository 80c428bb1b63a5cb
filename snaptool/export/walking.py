"""Walking an archive's records: JSON lines streamed as records arrive, and the
document spooled per table to temporary files, then assembled.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, IO

from ..format.records import by_number, record_name
from ..stream.reader import ArchiveScan, scan
from ..stream.statewalk import RecordEvent
from ..values import decode
from .rendering import plain, render_document, render_stored
from .selection import NOMAD_TABLES, ROOT_KEYS_TABLE, RecordFilter, table_of


# --------------------------------------------------------------------------
# walking


class _Abort(BaseException):
    """Carries an error out of a record callback through the reader (which
    turns ordinary exceptions raised while walking into findings)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


def guarded(callback: Callable[[RecordEvent], None]) -> Callable[[RecordEvent], None]:
    """Wrap a record callback so its errors stop the scan and reach the
    caller of :func:`run_scan` unchanged."""

    def inner(ev: RecordEvent) -> None:
        try:
            callback(ev)
        except Exception as exc:  # noqa: BLE001 - re-raised by run_scan
            raise _Abort(exc) from exc

    return inner


def run_scan(
    path: str | os.PathLike[str],
    callback: Callable[[RecordEvent], None],
    *,
    record_types: Iterable[int] | None = None,
    plain_tar: bool = False,
) -> ArchiveScan:
    """``scan`` with raw record bytes, errors from ``callback`` propagated."""
    kwargs: dict[str, Any] = {}
    if record_types:
        kwargs["record_types"] = frozenset(record_types)
    try:
        return scan(path, on_record=guarded(callback), keep_raw=True, plain_tar=plain_tar, **kwargs)
    except _Abort as stop:
        raise stop.exc from None


@dataclass
class Rendered:
    event: RecordEvent
    name: str
    value: Any  # decoded (masked unless show_secrets)
    json_value: Any  # rendered for output


Renderer = Callable[[int, Any], Any]


def iter_records(
    path: str | os.PathLike[str],
    emit: Callable[[Rendered], None],
    *,
    flt: RecordFilter = RecordFilter(),
    document: bool = False,
    show_secrets: bool = False,
    plain_tar: bool = False,
) -> ArchiveScan:
    """Scan an archive, calling ``emit`` for every record the filter keeps."""

    def on_record(ev: RecordEvent) -> None:
        if not flt.type_ok(ev.type):
            return
        assert ev.raw is not None
        value = decode(ev.raw)
        if flt.needs_value and not flt.value_ok(ev.type, value):
            return
        known = by_number(ev.type) is not None
        if document:
            shown = render_document(ev.type, value, show_secrets=show_secrets) if known else plain(value)
        else:
            shown = render_stored(ev.type, value, show_secrets=show_secrets) if known else plain(value)
        if not flt.where_ok(shown):
            return
        emit(Rendered(ev, record_name(ev.type), value, shown))

    return run_scan(path, on_record, record_types=flt.types or None, plain_tar=plain_tar)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def export_lines(
    path: str | os.PathLike[str],
    out: IO[str],
    *,
    flt: RecordFilter = RecordFilter(),
    show_secrets: bool = False,
    plain_tar: bool = False,
) -> tuple[ArchiveScan, int]:
    """Write one JSON line per kept record; returns the scan and the count."""
    count = 0

    def emit(r: Rendered) -> None:
        nonlocal count
        ev = r.event
        line: dict[str, Any] = {
            "Index": ev.index,
            "Type": r.name,
            "TypeNumber": ev.type,
            "Offset": ev.offset,
            "Size": ev.size,
            "Value": r.json_value,
        }
        if by_number(ev.type) is None:
            line["Raw"] = base64.b64encode(ev.raw or b"").decode()
        out.write(_dumps(line))
        out.write("\n")
        count += 1

    result = iter_records(path, emit, flt=flt, show_secrets=show_secrets, plain_tar=plain_tar)
    return result, count


def _meta_object(result: ArchiveScan) -> Any:
    raw = result.meta_parts[-1] if result.meta_parts else b""
    try:
        return json.loads(raw.decode("utf-8", "replace")) if raw.strip() else None
    except json.JSONDecodeError:
        return None


def export_document(
    path: str | os.PathLike[str],
    out: IO[str],
    *,
    flt: RecordFilter = RecordFilter(),
    show_secrets: bool = False,
    nomad_tables: bool = False,
    plain_tar: bool = False,
    indent: int = 2,
) -> tuple[ArchiveScan, dict[str, int]]:
    """Write the whole state as one JSON document (see the module notes).

    Returns the scan and the number of objects per table."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="snaptool-state-") as tmp:
        spools: dict[str, IO[str]] = {}

        def emit(r: Rendered) -> None:
            table = table_of(r.event.type)
            if nomad_tables and table not in NOMAD_TABLES and table != ROOT_KEYS_TABLE:
                return
            obj = r.json_value
            if table == "Unknown":
                obj = {
                    "TypeNumber": r.event.type,
                    "Offset": r.event.offset,
                    "Size": r.event.size,
                    "Raw": base64.b64encode(r.event.raw or b"").decode(),
                }
            f = spools.get(table)
            if f is None:
                f = spools[table] = open(  # noqa: SIM115 - closed below
                    os.path.join(tmp, f"{len(spools)}.jsonl"), "w+", encoding="utf-8"
                )
            f.write(_dumps(obj))
            f.write("\n")
            counts[table] = counts.get(table, 0) + 1

        try:
            result = iter_records(
                path, emit, flt=flt, document=True, show_secrets=show_secrets, plain_tar=plain_tar
            )
            names = set(NOMAD_TABLES) | set(spools) | {"SnapshotMeta"}
            meta = _meta_object(result)
            pad = " " * indent
            out.write("{")
            first = True
            for name in sorted(names):
                out.write("" if first else ",")
                first = False
                out.write(f"\n{pad}{json.dumps(name)}: [")
                items: Iterator[Any]
                if name == "SnapshotMeta":
                    items = iter([meta] if meta is not None else [])
                elif name in spools:
                    f = spools[name]
                    f.seek(0)
                    items = (json.loads(line) for line in f)
                else:
                    items = iter(())
                n = 0
                for obj in items:
                    text = json.dumps(obj, ensure_ascii=False, indent=indent)
                    text = text.replace("\n", "\n" + pad * 2)
                    out.write(("," if n else "") + f"\n{pad * 2}{text}")
                    n += 1
                out.write(f"\n{pad}]" if n else "]")
            out.write("\n}\n")
        finally:
            for f in spools.values():
                f.close()
    return result, counts
