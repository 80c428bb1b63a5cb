"""Compare two snapshot archives: metadata, per-type totals, objects, fields.

Strategy (memory grows with the number of objects, never with their size,
and no two decoded snapshots are ever held at once):

* **Pass 1, A.** One streaming scan. Per record in scope (``--type``): 96
  bits of SHA-256 of the value bytes, plus the type byte, map to the record
  number. Nothing is decoded: equal bytes mean an equal object, key included.
  About 140 bytes of memory per object.
* **Pass 1, B**, at the same time in a background process (where ``fork``
  exists): the same digest of each record, in order (13 bytes per record).
  Then per record of B: a byte-identical twin in A means unchanged (the twin
  is marked in a bitmap by A's record number). Only the others, usually few,
  are decoded, in one more scan of B that hands out only them, and only their
  natural key fields (the registry's :attr:`RecordType.key`, read from the
  top-level map by a throw-away ``msgpack.Unpacker`` that skips every other
  value); they are kept by key.
* **Pass 2.** A is scanned again; its unmatched records are keyed the same
  way: a key B also has makes a *candidate* pair, else the object was
  *removed*; B's keys left over were *added*. The candidates' A bytes are
  held (at most ``max_pending`` bytes a round; over budget, pass 2 repeats),
  B is scanned again, and each pair is decoded and compared field by field
  and dropped at once. A pair whose decoded values are equal (Go writes maps
  in random key order, integers in varying widths) is not a change.

Duplicate keys within one archive (Nomad never writes them; its restore
keeps the last) are compared best-effort: a byte-identical twin counts as
seen, other duplicates may show as an extra added or removed object.

So archives that differ only in packaging (gzip bytes, tar mtimes, the
SHA256SUMS line order, record order within a type, Go map order inside a
record) have the same content.

Content, for the exit status: the metadata fields Version, Index, Term,
ConfigurationIndex and Configuration.Servers (ID, Address, Suffrage), and the
decoded objects. meta.json's ID (creation time) and Size, and per-type byte
sums, are reported but are not content. With an object filter (types,
namespaces, ids) only the objects in scope count.

Values are shown as Nomad's JSON would show them, with three differences:
times (Go ``time.Time`` and int64 Unix-nanosecond fields whose name ends in
``Time``) are RFC 3339 with nanoseconds; binary values (``[]byte`` fields,
not UTF-8) are ``"<N bytes sha256:HEX16>"``; secret fields are never shown,
only that they were added, removed or changed. Secret fields are named by
the registry's :attr:`RecordType.secrets` (dotted paths: their last name is
used) plus :data:`EXTRA_SECRETS`, and matched by field name at any depth of
the object, so at least what the paths name is masked.

Field paths: a struct field or map key is ``Name`` (``.Name`` after another
segment), or ``["key"]`` when it is not identifier-like; a list of maps that
all carry a unique string ``Name`` (else ``ID``, ``Key``, ``Label``) is
indexed by it, ``TaskGroups[web]`` (``["0"]`` when it is all digits); other
lists of maps by position, ``[0]``; a list of scalars is one value.

JSON (``snaptool diff --json``), schema ``snaptool.diff/1``; fields are
only ever added within a schema version::

    {
      "schema": "snaptool.diff/1",
      "same": bool,                      # exit status 0 when true
      "filters": {"types": [str], "namespaces": [str], "ids": [str]},
      "a": SIDE, "b": SIDE,
      "meta": [{"field": str, "a": any, "b": any}],
      "types": [{"type": int, "name": str,
                 "a": {"count": int, "size": int},
                 "b": {"count": int, "size": int},
                 "added": int, "removed": int, "changed": int}],
      "summary": {"added": int, "removed": int, "changed": int},
      "objects": [OBJECT]                # absent with --stat
    }
    SIDE   = {"file": str, "meta": {"Version", "ID", "Index", "Term",
              "ConfigurationIndex", "Size", "Servers": [{"ID", "Address",
              "Suffrage"}]} or null, "problems": [str]}
    OBJECT = {"op": "added" | "removed" | "changed",
              "type": int, "name": str,  # record type number and name
              "key": {field: value},      # the natural key ({} for singletons;
                                          # {"#": n} when the key is missing)
              "id": str,                  # key values joined by "/" ("#n"
                                          # for the n-th record of a type
                                          # without its key fields)
              "size": {"a": int | null, "b": int | null},
              "changes": [CHANGE]}        # only for "changed"
    CHANGE = {"path": str, "op": "changed" | "added" | "removed" | "reordered",
              "old": any, "new": any,     # absent when not applicable
              "secret": true}             # present only for secret fields,
                                          # which then carry no old/new

``objects`` are sorted by type number, then key; ``changes`` follow A's
field order, then fields new in B.
"""

from __future__ import annotations

from .fields import FieldChange, diff_values, render
from .keys import EXTRA_SECRETS, parse_types, pick, secrets_for
from .passes import Pending, diff
from .report import DiffReport, MetaChange, ObjectChange, SCHEMA, Side, TypeDelta

__all__ = [
    "EXTRA_SECRETS",
    "SCHEMA",
    "DiffReport",
    "FieldChange",
    "MetaChange",
    "ObjectChange",
    "Side",
    "TypeDelta",
    "diff",
    "diff_values",
    "parse_types",
]

# Importable from here before the split, though not in __all__.
_ALSO_PUBLIC = (Pending, pick, render, secrets_for)
