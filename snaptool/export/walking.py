"""Walking an archive's records: JSON lines streamed as records arrive, and the
document spooled per table to temporary files, then assembled. Both render
records block by block (:mod:`.blockscan`), on other cores when that pays;
:func:`iter_records` hands each rendered record to a callback.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, IO

from ..format.records import by_number, record_name
from ..stream.reader import ArchiveScan
from ..stream.statewalk import RecordEvent
from ..values import decode
from .blockscan import open_sink, run_scan, scan_blocks
from .fastrender import BlockOptions
from .rendering import plain, render_document, render_stored
from .selection import RecordFilter
from .spool import Spools, merge_counts, write_document


# --------------------------------------------------------------------------
# walking


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


def _meta_object(result: ArchiveScan) -> Any:
    raw = result.meta_parts[-1] if result.meta_parts else b""
    try:
        return json.loads(raw.decode("utf-8", "replace")) if raw.strip() else None
    except json.JSONDecodeError:
        return None


def export_lines(
    path: str | os.PathLike[str],
    out: IO[str],
    *,
    flt: RecordFilter = RecordFilter(),
    show_secrets: bool = False,
    plain_tar: bool = False,
) -> tuple[ArchiveScan, int]:
    """Write one JSON line per kept record; returns the scan and the count."""
    opts = BlockOptions(show_secrets=show_secrets, flt=flt)
    result, reports = scan_blocks(path, open_sink(path, opts, out=out), opts, plain_tar=plain_tar)
    return result, sum(reports)


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
    opts = BlockOptions(
        document=True, show_secrets=show_secrets, flt=flt, nomad_tables=nomad_tables, indent=indent
    )
    with tempfile.TemporaryDirectory(prefix="snaptool-state-") as tmp:
        spools = Spools(tmp)
        try:
            result, reports = scan_blocks(path, open_sink(path, opts, spools=spools), opts, plain_tar=plain_tar)
            counts = merge_counts(reports)
            write_document(out, spools, counts, _meta_object(result), indent)
        finally:
            spools.close()
    return result, counts
