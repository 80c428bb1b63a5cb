"""One job out of a backup, ready to register again: ``snaptool job``.

The Job record (type 1, the current version) or a JobVersion record (type
9, with ``version``) is rendered as Go's ``encoding/json`` prints
``structs.Job`` (``[]byte`` as base64), which is the shape the job API
takes: ``{"Job": {...}}`` is accepted both by ``PUT /v1/jobs`` (the
register endpoint decodes ``api.JobRegisterRequest``, ignoring unknown keys)
and by ``nomad job run -json FILE`` (which takes a top-level ``Job`` key or
the bare job).

Fields the server owns are dropped (:data:`DROPPED_FIELDS`): ``Status``,
``StatusDescription``, ``Stable``, ``Version``, ``SubmitTime``,
``CreateIndex``, ``ModifyIndex``, ``JobModifyIndex`` (set again by the
register), ``NomadTokenID`` (the accessor of the token that submitted the
job: the new submitter's is recorded instead), ``VaultToken`` and
``ConsulToken`` (credentials; Nomad clears them before storing anyway) and
``Stop`` (a stopped job is recovered as a running one; pass
``keep_stop=True`` to keep it), and in each task group's ``Scaling`` policy
its ``ID``, ``CreateIndex`` and ``ModifyIndex`` (the server gives the policy
new ones).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .errors import SnaptoolError
from .export import plain, run_scan
from .stream.reader import ArchiveScan
from .stream.statewalk import RecordEvent
from .values import decode

__all__ = ["DROPPED_FIELDS", "SCALING_DROPPED", "JobNotFound", "JobRecord", "find_job", "job_request"]

DROPPED_FIELDS = (
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "NomadTokenID",
    "VaultToken",
    "ConsulToken",
    "Stop",
)

#: dropped from ``TaskGroups[].Scaling``
SCALING_DROPPED = ("ID", "CreateIndex", "ModifyIndex")

JOB, JOB_VERSION, JOB_SUBMISSION = 1, 9, 29


class JobNotFound(SnaptoolError):
    exit_code = 1


@dataclass
class JobRecord:
    value: dict[str, Any]
    type: int
    offset: int
    version: int | None
    #: the original job source (``JobSubmission`` record, Nomad 1.6.6+/1.7.3+)
    submission: dict[str, Any] | None = None
    scan: ArchiveScan | None = field(default=None, repr=False)


def find_job(
    path: str | os.PathLike[str],
    job_id: str,
    *,
    namespace: str = "default",
    version: int | None = None,
) -> JobRecord:
    """The job ``job_id`` in ``namespace``: the Job record, or with
    ``version`` the JobVersion record of that version (or the Job record,
    when it is that version)."""
    found: JobRecord | None = None
    versions: set[int] = set()
    namespaces: set[str] = set()
    submissions: dict[int, dict[str, Any]] = {}

    def on_record(ev: RecordEvent) -> None:
        nonlocal found
        if ev.type not in (JOB, JOB_VERSION, JOB_SUBMISSION):
            return
        assert ev.raw is not None
        value = decode(ev.raw)
        if not isinstance(value, dict):
            return
        ident = value.get("JobID") if ev.type == JOB_SUBMISSION else value.get("ID")
        if ident != job_id:
            return
        ns = value.get("Namespace") or "default"
        namespaces.add(ns)
        if ns != namespace:
            return
        ver = value.get("Version")
        if ev.type == JOB_SUBMISSION:
            if isinstance(ver, int):
                submissions[ver] = value
            return
        if isinstance(ver, int):
            versions.add(ver)
        if version is None:
            if ev.type == JOB:
                found = JobRecord(value, ev.type, ev.offset, ver if isinstance(ver, int) else None)
        elif ver == version and (found is None or ev.type == JOB_VERSION):
            found = JobRecord(value, ev.type, ev.offset, ver)

    result = run_scan(path, on_record, record_types=(JOB, JOB_VERSION, JOB_SUBMISSION))
    if found is None:
        where = os.fspath(path)
        damage = damage_of(result)
        if damage is not None:
            raise JobNotFound(f"no job {job_id!r} found, and the archive is damaged: {damage}", where=where)
        if not namespaces:
            raise JobNotFound(f"no job {job_id!r} in this snapshot", where=where)
        if namespace not in namespaces:
            raise JobNotFound(
                f"no job {job_id!r} in namespace {namespace!r} (it is in: {', '.join(sorted(namespaces))})",
                where=where,
            )
        have = ", ".join(str(v) for v in sorted(versions)) or "none"
        raise JobNotFound(f"job {job_id!r} has no version {version} (stored versions: {have})", where=where)
    if found.version is not None:
        found.submission = submissions.get(found.version)
    found.scan = result
    return found


def damage_of(result: Any) -> str | None:
    """The first problem that stopped the read (archive or record framing)."""
    for f in result.findings:
        if f.severity == "reject" or f.code in ("state.truncated", "state.undecodable", "state.empty"):
            where = f.location()
            return f"{where + ': ' if where else ''}{f.message}"
    return None


def job_request(record: JobRecord, *, keep_stop: bool = False) -> dict[str, Any]:
    """``{"Job": {...}}`` for ``PUT /v1/jobs`` and ``nomad job run -json``."""
    job = plain(record.value, byte_keys=frozenset({"Payload"}))
    for name in DROPPED_FIELDS:
        if name == "Stop" and keep_stop:
            continue
        job.pop(name, None)
    for group in job.get("TaskGroups") or []:
        scaling = group.get("Scaling") if isinstance(group, dict) else None
        if isinstance(scaling, dict):
            for name in SCALING_DROPPED:
                scaling.pop(name, None)
    return {"Job": job}
