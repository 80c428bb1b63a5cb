"""Build snapshot archives that a real Nomad restores, reproducibly.

``snaptool build MANIFEST -o OUT`` and :func:`build` turn a manifest (YAML
or JSON) into an archive written as Nomad's ``helper/snapshot`` writes one
(see :mod:`snaptool.stream.writer`): USTAR headers as Go writes them, two
end blocks and no record padding, one gzip member with Go's header bytes,
meta.json as compact JSON plus a newline, SHA256SUMS lines ``%x  %s\\n``.

Reproducible: the same manifest (and base archive) and the same mtime give
the same bytes. The mtime (``--mtime``; default ``SOURCE_DATE_EPOCH`` when
set, else 0) is the tar entries' ModTime and the millisecond part of the
default ID. **SHA256SUMS lists meta.json first, then state.bin** (Nomad's
order is random, both are accepted). The deflate stream comes from zlib, so
the compressed bytes are reproducible for a given zlib version
(``zlib.ZLIB_RUNTIME_VERSION``); the tar inside is reproducible everywhere.

Manifest
--------

.. code-block:: yaml

    from: base.snap        # optional: start from this archive (path relative
                           # to the manifest); its records are kept byte for byte
    meta:                  # all optional (Go names or snake_case)
      Index: 120           # default: the base's, else the highest index in the
                           # records (CreateIndex, ModifyIndex, ..., Index values), at least 1
      Term: 2              # default: the base's, else 1
      ID: "2-120-0"        # default: "<Term>-<Index>-<mtime in ms>" (kept from
                           # the base when Index and Term are unchanged)
      Version: 1           # default 1 (the only version raft restores)
      ConfigurationIndex: 1
      Servers:             # default: the base's, else one voter 127.0.0.1:4647
        - {ID: 127.0.0.1:4647, Address: 127.0.0.1:4647, Suffrage: 0}
                           # Peers (the voters' addresses) and Size are computed
    indexes: auto          # auto (default) | none: see "Index records"
    derive: true           # default true: see "Derived records"
    remove:                # records to drop: type and fields to match
      - Job: {Namespace: default, ID: old}       # every field given must equal
      - JobVersion: {Namespace: default, ID: old}  # (all versions of old)
    patch:                 # change fields of existing records, keep the rest
      - Job: {Namespace: default, ID: web}
        set: {Priority: 70, Meta: {rev: "3"}}     # maps merge, other values replace
    records:               # add, or replace by the type's natural key
      - Namespace: {Name: team-a, Description: "team A"}
      - type: Job          # long form; type is a registry name or a number
        body: {Namespace: team-a, ID: api, Type: service, ...}
      - type: 99
        raw: "gqNLZXmjZm9v"   # base64 of one msgpack value, written as is

Record bodies are JSON-like; :func:`snaptool.codec.typed` chooses Go's
msgpack formats from the field names (unsigned for ``...Index`` fields, job
``Version`` and a few more; RFC 3339 text for time fields; base64 for
``[]byte`` fields; ``{"$uint": n}``-style forms override). Key order is the
body's order.

Order of work: the base's records (or none) -> ``remove`` (each entry must
match at least one record) -> ``patch`` (each must match) -> ``records``:
a record whose type has a natural key (:attr:`RecordType.key`, e.g.
Namespace+ID for jobs, Name for namespaces, Key for Index records) replaces
the record with the same key in place; a type without a key
(SchedulerConfig, ClusterMetadata, TimeTable) replaces the one record of its
type; anything else is added after the last record of its type, or where
Nomad's Persist order puts that type. Records never touched keep their exact
bytes; patched records are decoded and re-encoded with :mod:`snaptool.codec`,
which reproduces every byte it did not change.

Derived records (``derive: true``)
    A Nomad server lists jobs only when each has a JobSummary (``/v1/jobs``
    fails with "unable to look up summary" otherwise), and keeps every job
    version in ``job_version``. For each Job without a JobSummary (same
    Namespace and ID) a JobSummary is added: one all-zero TaskGroupSummary
    per task group, zero Children, the job's CreateIndex and ModifyIndex.
    For each Job without a JobVersion of its Version, a JobVersion is added
    whose bytes are the Job record's bytes (as Nomad writes them).

Index records (``indexes: auto``, when the manifest lists no Index records)
    Nomad persists one Index record (Key = memdb table, Value = the table's
    last index) for each table written to. A genuine 1.6.1 snapshot holds
    allocs, csi_plugins, deployment, evals, job_summary, job_version, jobs,
    namespaces, node_pools, nodes, periodic_launch, root_key_meta,
    scaling_policy and variables. For each record type in the result, the
    table in :data:`INDEX_TABLES` gets an Index record whose Value is the
    highest ``...Index`` field among that type's records (the meta Index
    when none has one); an existing Index record is raised to that value if
    lower, else left as it is. Types with no table of their own
    (SchedulerConfig, ClusterMetadata, VariablesQuota, TimeTable) get none.
    New Index records are sorted by Key, as memdb iterates them.

Errors (:class:`ManifestError`) are one line naming the manifest and the
entry, e.g. ``m.yaml: records[2] (Job): TaskGroups.Count: ...``.
"""

from __future__ import annotations

# In the order the API reference (mkdocstrings, source order) lists them.
from .manifest import ManifestError
from .output import OutputError
from .records import INDEX_TABLES, PERSIST_ORDER, Record, Built
from .output import default_mtime
from .manifest import DEFAULT_ADDRESS, load_manifest
from .assemble import build

__all__ = [
    "Built",
    "INDEX_TABLES",
    "ManifestError",
    "OutputError",
    "PERSIST_ORDER",
    "Record",
    "build",
    "default_mtime",
    "load_manifest",
]

# Importable from here before the split, though not in __all__.
_ALSO_PUBLIC = (DEFAULT_ADDRESS,)
