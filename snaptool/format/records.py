"""The registry of state.bin record types.

One table, used by every command: the number written as the record's type
byte, the name Nomad's ``operator snapshot inspect`` prints for it, which
Nomad versions write it, how each Nomad version's restore treats it, and the
edition that knows it. Sources: Nomad's ``nomad/fsm.go`` (``SnapshotType``,
``Persist`` and ``restoreImpl``) across tags, summarised in the spec's record
type table (``spec/records.md`` is checked against this module by a test).

Restore behaviours, per Nomad version:

``restore``
    decoded into its Go type and inserted into the state store.
``discard``
    decoded and dropped (types Nomad stopped using).
``abort``
    restore returns early without an error: every later record is silently
    lost (TimeTable on 1.9.2, EventSink on 1.0.0 to 1.9.3).
``error``
    the FSM restore fails; through ``PUT /v1/operator/snapshot`` raft then
    panics and the leader crashes. Every number a version does not know at all
    behaves like this (``Unrecognized snapshot type``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "LATEST_NOMAD",
    "RecordType",
    "Restore",
    "Version",
    "by_number",
    "parse_version",
    "record_name",
    "version_text",
    "writer_range",
    "REGISTRY",
]

Version = tuple[int, int, int]
Restore = Literal["restore", "discard", "abort", "error"]
Edition = Literal["ce", "ent"]

#: The newest Nomad release the registry describes.
LATEST_NOMAD: Version = (2, 0, 5)

_NEVER: Version = (999, 0, 0)


def parse_version(text: str) -> Version:
    """Parse ``1.9.2``, ``v1.9``, ``1.10.0+ent`` or ``latest`` into a triple."""
    raw = text.strip().lower()
    if raw in ("latest", ""):
        return LATEST_NOMAD
    raw = raw.removeprefix("v").split("+", 1)[0].split("-", 1)[0]
    parts = raw.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a Nomad version: {text!r} (expected e.g. 1.9.2)")
    numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
    return (numbers[0], numbers[1], numbers[2])


def _v(text: str) -> Version:
    return parse_version(text)


@dataclass(frozen=True)
class RecordType:
    """One state.bin record type and its history."""

    number: int
    name: str
    edition: Edition
    #: (first, last) Nomad versions whose ``Persist`` writes this type; None
    #: when no release writes it any more or never did.
    written: tuple[Version, Version] | None
    #: Restore behaviour by version: (first version, behaviour), ascending;
    #: versions before the first entry do not know the type (``error``).
    restore: tuple[tuple[Version, Restore], ...]
    #: Versions between which a backport also restores the type (JobSubmission).
    backports: tuple[tuple[Version, Version], ...] = ()
    #: Fields that together identify one object (for diff and filters).
    key: tuple[str, ...] = ()
    #: Fields holding secrets or key material (masked unless asked); a dotted
    #: path reaches into nested maps and into every element of a list.
    secrets: tuple[str, ...] = ()
    note: str = ""
    aliases: tuple[str, ...] = field(default=())

    def behaviour(self, version: Version, edition: Edition = "ce") -> Restore:
        """How a Nomad of ``version`` and ``edition`` restores this type."""
        if self.edition == "ent" and edition != "ent":
            return "error"
        for lo, hi in self.backports:
            if lo <= version <= hi:
                return "restore"
        result: Restore = "error"
        for first, what in self.restore:
            if version >= first:
                result = what
        return result


def _rt(
    number: int,
    name: str,
    since: str,
    *,
    edition: Edition = "ce",
    written: tuple[str, str] | None = ("", ""),
    restore: tuple[tuple[str, Restore], ...] = (),
    backports: tuple[tuple[str, str], ...] = (),
    key: tuple[str, ...] = ("ID",),
    secrets: tuple[str, ...] = (),
    note: str = "",
) -> RecordType:
    rest = ((_v(since), "restore"),) + tuple((_v(v), b) for v, b in restore)
    if written == ("", ""):
        span: tuple[Version, Version] | None = (_v(since), _NEVER)
    elif written is None:
        span = None
    else:
        span = (_v(written[0]), _v(written[1]) if written[1] else _NEVER)
    return RecordType(
        number=number,
        name=name,
        edition=edition,
        written=span,
        restore=rest,
        backports=tuple((_v(a), _v(b)) for a, b in backports),
        key=key,
        secrets=secrets,
        note=note,
    )


_NS_ID = ("Namespace", "ID")

REGISTRY: tuple[RecordType, ...] = (
    _rt(0, "Node", "0.1.0", secrets=("SecretID",)),
    _rt(1, "Job", "0.1.0", key=_NS_ID),
    _rt(2, "Index", "0.1.0", key=("Key",)),
    _rt(3, "Eval", "0.1.0", key=_NS_ID),
    _rt(4, "Alloc", "0.1.0", key=_NS_ID, secrets=("SignedIdentities",)),
    _rt(
        5,
        "TimeTable",
        "0.1.0",
        written=("0.1.0", "1.9.1"),
        restore=(("1.9.2", "abort"), ("1.9.3", "discard")),
        key=(),
        note="1.9.2 stops the restore silently at this record",
    ),
    _rt(6, "PeriodicLaunch", "0.3.0", key=_NS_ID),
    _rt(7, "JobSummary", "0.4.1", key=("Namespace", "JobID")),
    _rt(
        8,
        "VaultAccessor",
        "0.5.0",
        written=("0.5.0", "1.9.99"),
        restore=(("1.10.0", "discard"),),
        key=("Accessor",),
    ),
    _rt(9, "JobVersion", "0.6.0", key=("Namespace", "ID", "Version")),
    _rt(10, "Deployment", "0.6.0", key=_NS_ID),
    _rt(11, "ACLPolicy", "0.7.0", key=("Name",)),
    _rt(12, "ACLToken", "0.7.0", key=("AccessorID",), secrets=("SecretID",)),
    _rt(13, "SchedulerConfig", "0.9.0", key=()),
    _rt(14, "ClusterMetadata", "0.10.4", key=()),
    _rt(
        15,
        "ServiceIdentityTokenAccessor",
        "0.10.4",
        written=("0.10.4", "1.9.99"),
        restore=(("1.10.0", "discard"),),
        key=("AccessorID",),
    ),
    _rt(16, "ScalingPolicy", "0.11.0"),
    _rt(17, "CSIPlugin", "0.11.0"),
    _rt(18, "CSIVolume", "0.11.0", key=_NS_ID),
    _rt(19, "ScalingEvents", "0.11.0", key=("Namespace", "JobID")),
    _rt(
        20,
        "EventSink",
        "1.0.0",
        written=None,
        restore=(("1.0.0", "abort"), ("1.9.4", "error")),
        note="written only by 1.0.0-beta2 and -beta3",
    ),
    _rt(21, "ServiceRegistration", "1.3.0", key=_NS_ID),
    _rt(22, "Variables", "1.4.0", key=("Namespace", "Path"), secrets=("Data",)),
    _rt(23, "VariablesQuota", "1.4.0", key=("Namespace",)),
    _rt(24, "RootKeyMeta", "1.4.0", written=("1.4.0", "1.8.99"), key=("KeyID",)),
    _rt(25, "ACLRole", "1.4.0"),
    _rt(26, "ACLAuthMethod", "1.5.0", key=("Name",), secrets=("Config.OIDCClientSecret",)),
    _rt(27, "ACLBindingRule", "1.5.0"),
    _rt(28, "NodePool", "1.6.0", key=("Name",)),
    _rt(
        29,
        "JobSubmission",
        "1.8.0",
        backports=(("1.6.6", "1.6.99"), ("1.7.3", "1.7.99")),
        key=("Namespace", "JobID", "Version"),
        note="also written by the backports 1.6.6+ and 1.7.3+",
    ),
    _rt(
        30,
        "WrappedRootKeys",
        "1.9.0",
        key=("KeyID",),
        secrets=(
            "WrappedKeys.KeyEncryptionKey",
            "WrappedKeys.WrappedDataEncryptionKey",
            "WrappedKeys.WrappedRSAKey",
        ),
    ),
    _rt(31, "HostVolumeSnapshot", "1.10.0", key=_NS_ID),
    _rt(64, "Namespace", "1.0.0", key=("Name",), note="Enterprise only before 1.0"),
    _rt(65, "SentinelPolicy", "0.7.0", edition="ent", key=("Name",)),
    _rt(66, "QuotaSpec", "0.7.0", edition="ent", key=("Name",)),
    _rt(67, "QuotaUsage", "0.7.0", edition="ent", key=("Name",)),
    _rt(68, "License", "1.0.0", edition="ent", key=()),
    _rt(69, "TmpLicenseMeta", "1.0.0", edition="ent", key=()),
    _rt(70, "Recommendation", "1.0.0", edition="ent"),
)

_BY_NUMBER = {rt.number: rt for rt in REGISTRY}


def by_number(number: int) -> RecordType | None:
    """The registry entry for a type byte, or None for a number no Nomad uses."""
    return _BY_NUMBER.get(number)


def writer_range(numbers: set[int] | frozenset[int]) -> tuple[Version, Version] | None:
    """The Nomad versions whose ``Persist`` could have written an archive with
    exactly these record types (None when no single version could).

    A type narrows the range to the versions that write it; TimeTable is
    written by every version up to 1.9.1, so its absence means 1.9.2 or
    later. Types no release writes (EventSink) and unknown numbers are
    ignored here (verify reports them)."""
    lo: Version = (0, 1, 0)
    hi: Version = _NEVER
    for number in numbers:
        rt = _BY_NUMBER.get(number)
        if rt is None or rt.written is None:
            continue
        first, last = rt.written
        if rt.backports:
            first = min([first] + [a for a, _ in rt.backports])
        lo, hi = max(lo, first), min(hi, last)
    timetable = _BY_NUMBER[5].written
    assert timetable is not None
    if 5 not in numbers and numbers:
        lo = max(lo, _v("1.9.2"))
    return (lo, hi) if lo <= hi else None


def version_text(version: Version) -> str:
    """``1.8.x`` for a whole minor's upper end, ``latest`` for no end."""
    if version[0] >= 999:
        return "latest"
    if version[2] >= 99:
        return f"{version[0]}.{version[1]}.x"
    return ".".join(map(str, version))


def record_name(number: int) -> str:
    """The name Nomad's inspect prints: the type's name, or ``Unknown(N)``."""
    rt = _BY_NUMBER.get(number)
    return rt.name if rt is not None else f"Unknown({number})"
