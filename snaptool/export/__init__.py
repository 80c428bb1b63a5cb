"""Records as JSON: ``snaptool state``.

Two shapes:

* **JSON lines** (:func:`export_lines`): one object per record, streamed in
  archive order, ``{"Index", "Type", "TypeNumber", "Offset", "Size",
  "Value"}``. ``Value`` is the record *as stored*: every field present in the
  msgpack map and nothing else (fields Nomad's encoder omitted stay absent),
  with times as RFC 3339 (nanoseconds, as Go prints them), ``[]byte`` as
  base64, secrets masked. Records of a type no Nomad uses also carry
  ``"Raw"``: the msgpack value's bytes in base64.
* **one document** (:func:`export_document`): the object ``nomad operator
  snapshot state`` prints (``helper/raftutil.StateAsMap`` plus
  ``SnapshotMeta``): tables ``ACLPolicies``, ``ACLTokens``, ``Allocs``,
  ``CSIPlugins``, ``CSIVolumes``, ``Deployments``, ``Evals``, ``Indexes``,
  ``JobSummaries``, ``JobVersions``, ``Jobs``, ``Nodes``,
  ``PeriodicLaunches``, ``SITokenAccessors``, ``ScalingEvents``,
  ``ScalingPolicies``, ``VaultAccessors`` (Nomad 1.6.1's set, always present)
  and ``RootKeys`` (metadata only, as Nomad 1.9+ prints it), each object
  shaped as Go's ``encoding/json`` prints the Nomad struct (zero values of
  fields msgpack omitted filled in, ``json:"-"`` fields dropped, custom
  ``MarshalJSON`` durations as strings). Tables Nomad does not print
  (Namespaces, NodePools, Variables, ...) follow under their own names unless
  ``nomad_tables`` is set; records of unknown types go to ``Unknown`` as
  ``{TypeNumber, Offset, Size, Raw}``.

Memory stays bounded: lines are written as records arrive; the document is
spooled per table to temporary files, then assembled. Records are rendered
in blocks, by forked worker processes for large inputs (``SNAPTOOL_JOBS``
sets how many; 1 renders in process), with the same bytes out either way.
"""

from __future__ import annotations

from ..values import go_time_text
from .selection import (
    DOCUMENT_TABLES,
    EXTRA_TABLES,
    NOMAD_TABLES,
    ROOT_KEYS_TABLE,
    RecordFilter,
    id_field,
    namespace_of,
    parse_types,
    table_of,
)
from .rendering import (
    Masked,
    b64,
    go_duration,
    mask_secrets,
    mask_text,
    plain,
    render_document,
    render_stored,
    secret_paths,
)
from .blockscan import guarded, run_scan
from .walking import (
    Rendered,
    Renderer,
    export_document,
    export_lines,
    iter_records,
)

__all__ = [
    "DOCUMENT_TABLES",
    "EXTRA_TABLES",
    "NOMAD_TABLES",
    "RecordFilter",
    "Rendered",
    "export_document",
    "export_lines",
    "go_duration",
    "go_time_text",
    "iter_records",
    "mask_text",
    "parse_types",
    "render_document",
    "render_stored",
]

# Importable from here before the split, though not in __all__.
_ALSO_PUBLIC = (
    Masked,
    ROOT_KEYS_TABLE,
    Renderer,
    b64,
    guarded,
    id_field,
    mask_secrets,
    namespace_of,
    plain,
    run_scan,
    secret_paths,
    table_of,
)
