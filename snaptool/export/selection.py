"""The document's tables (Nomad's and snaptool's additions) and choosing records
by type, namespace and ID (:class:`RecordFilter`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..format.records import REGISTRY, by_number


# --------------------------------------------------------------------------
# tables


#: ``nomad operator snapshot state`` (v1.6.1 ``StateAsMap``): table -> type.
NOMAD_TABLES: dict[str, int | None] = {
    "ACLPolicies": 11,
    "ACLTokens": 12,
    "Allocs": 4,
    "CSIPlugins": 17,
    "CSIVolumes": 18,
    "Deployments": 10,
    "Evals": 3,
    "Indexes": 2,
    "JobSummaries": 7,
    "JobVersions": 9,
    "Jobs": 1,
    "Nodes": 0,
    "PeriodicLaunches": 6,
    "SITokenAccessors": 15,
    "ScalingEvents": 19,
    "ScalingPolicies": 16,
    "VaultAccessors": 8,
}

#: Nomad 1.9+ adds ``RootKeys`` (key metadata only); snaptool also puts
#: 1.4-1.8 RootKeyMeta records there.
ROOT_KEYS_TABLE = "RootKeys"

#: Tables Nomad's document does not have (snaptool additions).
EXTRA_TABLES: dict[str, int] = {
    "TimeTable": 5,
    "SchedulerConfig": 13,
    "ClusterMetadata": 14,
    "EventSinks": 20,
    "ServiceRegistrations": 21,
    "Variables": 22,
    "VariablesQuotas": 23,
    "ACLRoles": 25,
    "ACLAuthMethods": 26,
    "ACLBindingRules": 27,
    "NodePools": 28,
    "JobSubmissions": 29,
    "HostVolumes": 31,
    "Namespaces": 64,
    "SentinelPolicies": 65,
    "QuotaSpecs": 66,
    "QuotaUsages": 67,
    "License": 68,
    "TmpLicenseMeta": 69,
    "Recommendations": 70,
}

_TABLE_OF: dict[int, str] = {t: name for name, t in NOMAD_TABLES.items() if t is not None}
_TABLE_OF.update({t: name for name, t in EXTRA_TABLES.items()})
_TABLE_OF[24] = ROOT_KEYS_TABLE
_TABLE_OF[30] = ROOT_KEYS_TABLE

#: Every table name the document can hold, for the docs and tests.
DOCUMENT_TABLES = sorted(set(_TABLE_OF.values()) | {"SnapshotMeta", "Unknown"})


def table_of(type_number: int) -> str:
    return _TABLE_OF.get(type_number, "Unknown")


# --------------------------------------------------------------------------
# selecting records


def parse_types(specs: Iterable[str]) -> set[int]:
    """``--type`` values: names (any case, also table names) or numbers."""
    by_name = {rt.name.lower(): rt.number for rt in REGISTRY}
    by_name.update({t.lower(): n for n, t in _TABLE_OF.items() if t not in ("RootKeys",)})
    wanted: set[int] = set()
    for spec in specs:
        for part in spec.split(","):
            text = part.strip()
            if not text:
                continue
            if text.isdigit():
                number = int(text)
                if not 0 <= number <= 255:
                    raise UsageError(f"type number out of range: {text}")
                wanted.add(number)
            elif text.lower() in by_name:
                wanted.add(by_name[text.lower()])
            elif text.lower() == "rootkeys":
                wanted.update({24, 30})
            elif text.lower().startswith("unknown(") and text.endswith(")") and text[8:-1].isdigit():
                wanted.add(int(text[8:-1]))
            else:
                raise UsageError(f"unknown record type {text!r} (a name like Job or a number)")
    return wanted


def id_field(type_number: int) -> str | None:
    """The field ``--id``/``--prefix`` match: the natural key without its
    namespace and version (Job: ID, Variables: Path, ACLToken: AccessorID)."""
    rt = by_number(type_number)
    if rt is None:
        return "ID"
    for name in rt.key:
        if name not in ("Namespace", "Version"):
            return name
    return None


def namespace_of(type_number: int, value: Any) -> str | None:
    """The namespace a record belongs to, or None for cluster-wide records."""
    if not isinstance(value, dict):
        return None
    if type_number == 64:
        name = value.get("Name")
        return name if isinstance(name, str) else None
    ns = value.get("Namespace")
    if isinstance(ns, str):
        return ns or "default"
    return None


@dataclass
class RecordFilter:
    """Which records to show: every given condition must hold."""

    types: set[int] = field(default_factory=set)
    namespace: str | None = None
    ids: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    where: str | None = None
    _compiled: Any = None

    def __post_init__(self) -> None:
        if self.where:
            import jmespath
            from jmespath.exceptions import JMESPathError

            try:
                self._compiled = jmespath.compile(self.where)
            except JMESPathError as exc:
                raise UsageError(f"--where: not a JMESPath expression: {exc}") from None

    @property
    def needs_value(self) -> bool:
        return bool(self.namespace is not None or self.ids or self.prefixes or self.where)

    def type_ok(self, type_number: int) -> bool:
        return not self.types or type_number in self.types

    def value_ok(self, type_number: int, value: Any) -> bool:
        if self.namespace is not None and namespace_of(type_number, value) != self.namespace:
            return False
        if self.ids or self.prefixes:
            name = id_field(type_number)
            got = value.get(name) if name and isinstance(value, dict) else None
            if not isinstance(got, str):
                return False
            if self.ids and got not in self.ids:
                return False
            if self.prefixes and not any(got.startswith(p) for p in self.prefixes):
                return False
        return True

    def where_ok(self, rendered: Any) -> bool:
        if self._compiled is None:
            return True
        from jmespath.exceptions import JMESPathError

        try:
            return _truthy(self._compiled.search(rendered))
        except JMESPathError:
            return False


def _truthy(result: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false."""
    if isinstance(result, bool):
        return result
    return result is not None and result != "" and result != [] and result != {}
