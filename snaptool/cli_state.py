"""``snaptool state``, ``job``, ``filter`` and ``redact``.

Registered by :mod:`snaptool.cli` (``register(app)``); the work is done by
:mod:`snaptool.export`, :mod:`snaptool.jobspec` and :mod:`snaptool.rewrite`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer

from .cli import _fail, _print_json
from .errors import UsageError

__all__ = ["register"]

STATE_HELP = """Every record as JSON: one line per record, or one document.

\b
JSON lines (the default), one per record, in archive order:
  {"Index": n, "Type": "Job", "TypeNumber": 1, "Offset": o, "Size": s, "Value": {...}}
Value holds the fields stored in the record; times are RFC 3339, []byte
fields base64, a float NaN or infinity "NaN", "+Inf", "-Inf" (JSON has none).
Records of unknown types also carry "Raw" (base64 msgpack).

\b
--document prints one object shaped like `nomad operator snapshot state`:
tables ACLPolicies, ACLTokens, Allocs, CSIPlugins, CSIVolumes, Deployments,
Evals, Indexes, JobSummaries, JobVersions, Jobs, Nodes, PeriodicLaunches,
SITokenAccessors, ScalingEvents, ScalingPolicies, VaultAccessors, SnapshotMeta
(objects as Nomad's JSON prints them), then RootKeys (metadata only) and
tables Nomad leaves out (Namespaces, NodePools, Variables, ...; not with
--nomad-tables), and Unknown for unknown record types.

\b
Secrets (ACL token and node SecretID, Variables Data, root key material,
workload identities, OIDC client secrets) show as "<redacted sha256:...>"
unless --show-secrets.

\b
Large inputs are rendered by worker processes (one per core, at most 4);
SNAPTOOL_JOBS=N sets how many, SNAPTOOL_JOBS=1 renders in this process.
The output is the same either way.

\b
Filters (all given must hold; --type, --id, --prefix repeat):
  --type Job --type 9          by name or number
  --namespace team-a           records of that namespace only
  --id web                     natural key: Job/Alloc ID, Variables Path, ...
  --prefix nightly/            the same, by prefix
  --where "Type=='service'"    JMESPath on the printed Value, e.g.
      "Status=='dead'"   "length(TaskGroups) > `1`"   "contains(Datacenters, 'dc1')"
      "ClientStatus=='failed' && JobID=='web'"   "Meta.owner=='ops'"
"""


def register(app: typer.Typer) -> None:
    app.command("state", help=STATE_HELP)(state)
    app.command("job")(job)
    app.command("filter")(filter_cmd)
    app.command("redact")(redact)


def _report_problems(result: Any) -> bool:
    """Print reject/restore findings on stderr; True when the read was complete."""
    from .checks import check

    try:
        check(result)
    except Exception:  # noqa: BLE001 - the records were printed; judging is extra
        pass
    problems = [f for f in result.findings if f.severity in ("reject", "restore")]
    for f in problems:
        where = f.location()
        typer.echo(f"{f.severity}: {f.code}: {where + ': ' if where else ''}{f.message}", err=True)
    complete = result.state is not None and result.state.complete
    return complete and not any(f.severity == "reject" for f in problems)


def state(
    file: str = typer.Argument(..., help="Snapshot archive."),
    document: bool = typer.Option(False, "--document", help="One JSON document grouped by table (Nomad's shape)."),
    types: list[str] = typer.Option([], "--type", "-t", help="Only this record type (name or number); repeatable."),
    namespace: Optional[str] = typer.Option(None, "--namespace", "-n", help="Only records of this namespace."),
    ids: list[str] = typer.Option([], "--id", help="Only the object with this key (exact); repeatable."),
    prefixes: list[str] = typer.Option([], "--prefix", help="Only objects whose key starts so; repeatable."),
    where: Optional[str] = typer.Option(None, "--where", "-w", help="JMESPath expression on the record's Value."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print secret values instead of masks."),
    nomad_tables: bool = typer.Option(False, "--nomad-tables", help="--document: only the tables Nomad prints."),
    plain_tar: bool = typer.Option(False, "--tar", help="The input is an uncompressed tar."),
) -> None:
    from .export import RecordFilter, export_document, export_lines, parse_types

    try:
        flt = RecordFilter(
            types=parse_types(types), namespace=namespace, ids=list(ids), prefixes=list(prefixes), where=where
        )
        out = sys.stdout
        if document:
            result, _ = export_document(
                file, out, flt=flt, show_secrets=show_secrets, nomad_tables=nomad_tables, plain_tar=plain_tar
            )
        else:
            if nomad_tables:
                raise UsageError("--nomad-tables applies to --document only")
            result, _ = export_lines(file, out, flt=flt, show_secrets=show_secrets, plain_tar=plain_tar)
        out.flush()
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    raise typer.Exit(0 if _report_problems(result) else 1)


def job(
    file: str = typer.Argument(..., help="Snapshot archive."),
    name: str = typer.Argument(..., help="Job ID."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="The job's namespace."),
    version: Optional[int] = typer.Option(None, "--version", help="This stored version (JobVersion record)."),
    keep_stop: bool = typer.Option(False, "--keep-stop", help="Keep Stop=true of a stopped job."),
    source: bool = typer.Option(False, "--source", help="Print the job's original submitted source instead (Nomad 1.6.6+)."),
) -> None:
    """One job as JSON for `nomad job run -json` and PUT /v1/jobs ({"Job": {...}}).

    Dropped (set by the server on register): Status, StatusDescription,
    Stable, Version, SubmitTime, CreateIndex, ModifyIndex, JobModifyIndex,
    NomadTokenID, VaultToken, ConsulToken, Stop (unless --keep-stop), and
    TaskGroups[].Scaling ID, CreateIndex and ModifyIndex.
    """
    from .jobspec import damage_of, find_job, job_request

    try:
        record = find_job(file, name, namespace=namespace, version=version)
        damage = damage_of(record.scan) if record.scan is not None else None
        if damage is not None:
            typer.echo(
                f"snaptool: warning: {file}: the archive is damaged ({damage}); "
                "the job was read from before the damage",
                err=True,
            )
        if source:
            sub = record.submission
            if not sub or not isinstance(sub.get("Source"), str):
                raise UsageError(
                    f"no submitted source stored for {name!r} version {record.version} "
                    "(JobSubmission records exist from Nomad 1.6.6/1.7.3 on)"
                )
            typer.echo(sub["Source"], nl=not sub["Source"].endswith("\n"))
            raise typer.Exit(0)
        body = job_request(record, keep_stop=keep_stop)
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
    raise typer.Exit(0)


def _render_rewrite(report: Any, verdict: Any, what: str) -> None:
    d = report.to_dict()
    typer.echo(f"{d['Output']}: {d['RecordsOut']} of {d['RecordsIn']} records kept, state.bin {d['StateSizeIn']} -> {d['StateSizeOut']} bytes")
    if d["Dropped"]:
        typer.echo("dropped:")
        for row in d["Dropped"]:
            typer.echo(f"  {row['Type']:<28} {row['Count']}")
    if d["Changed"]:
        typer.echo(f"{what}:")
        for row in d["Changed"]:
            typer.echo(f"  {row['Type']:<28} {row['Count']}")
    for line in d["MetaChanges"]:
        typer.echo(f"meta.json: {line}")
    for line in d["Notes"]:
        typer.echo(f"note: {line}")
    if verdict is not None:
        state = "OK" if verdict.ok else "FAIL"
        typer.echo(f"verify: {state}: {verdict.target.describe()} would {'restore' if verdict.ok else 'refuse'} it")
        for f in verdict.findings:
            if f.severity != "warning":
                typer.echo(f"  {f.severity} {f.code}: {f.message}")


def _finish(report: Any, json_out: bool, what: str) -> None:
    from .commands import verify

    verdict = verify(report.output, schema=True)
    if json_out:
        d = report.to_dict()
        d["Verify"] = verdict.to_dict()
        _print_json(d)
    else:
        _render_rewrite(report, verdict, what)
    raise typer.Exit(0 if verdict.ok else 1)


def filter_cmd(
    src: str = typer.Argument(..., metavar="IN", help="Snapshot archive to read."),
    dst: str = typer.Argument(..., metavar="OUT", help="New archive to write."),
    keep_types: list[str] = typer.Option([], "--keep-type", help="Keep only these record types; repeatable."),
    drop_types: list[str] = typer.Option([], "--drop-type", help="Drop these record types; repeatable."),
    drop_where: Optional[str] = typer.Option(None, "--drop-where", help="Drop records for which this JMESPath expression is true."),
    drop_enterprise: bool = typer.Option(False, "--drop-enterprise", help="Drop Enterprise-only record types."),
    drop_unknown: bool = typer.Option(False, "--drop-unknown", help="Drop record types no Nomad uses."),
    namespace: Optional[str] = typer.Option(None, "--namespace", "-n", help="Keep one namespace (and cluster-wide records)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """A new archive without some records; kept records are copied byte for byte.

    Size and SHA256SUMS are recomputed; OUT is written atomically and then
    verified. --drop-where is evaluated on the record as `snaptool state`
    prints it (secrets shown), e.g. --drop-where "Status=='complete'"
    --drop-type Eval. With --namespace, records of other namespaces are
    dropped, cluster-wide ones kept, and the Namespace records of that
    namespace and "default" kept.
    """
    from .export import parse_types
    from .rewrite import filter_decider, rewrite_archive

    try:
        if not (keep_types or drop_types or drop_where or drop_enterprise or drop_unknown or namespace):
            raise UsageError("nothing to filter: give --keep-type, --drop-type, --drop-where, --drop-enterprise, --drop-unknown or --namespace")
        decide = filter_decider(
            keep_types=parse_types(keep_types) or None,
            drop_types=parse_types(drop_types) or None,
            drop_where=drop_where,
            drop_enterprise=drop_enterprise,
            drop_unknown=drop_unknown,
            namespace=namespace,
        )
        report = rewrite_archive(src, dst, decide, force=force)
    except Exception as exc:  # noqa: BLE001
        _fail(exc, json_out)
    _finish(report, json_out, "changed")


def redact(
    src: str = typer.Argument(..., metavar="IN", help="Snapshot archive to read."),
    dst: str = typer.Argument(..., metavar="OUT", help="Redacted archive to write."),
    addresses: bool = typer.Option(False, "--addresses", help="Also replace server addresses in meta.json (192.0.2.N)."),
    node_secrets: bool = typer.Option(False, "--node-secrets", help="Also replace node SecretIDs (clients cannot re-register)."),
    identities: bool = typer.Option(False, "--identities", help="Also remove allocations' signed workload identities."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """A copy without key material and secrets, still restorable.

    Root keys (WrappedRootKeys, Nomad 1.9+) lose their WrappedKeys and get
    " [REDACTED]" appended to their KeyID, as `nomad operator snapshot redact`
    does. ACL token SecretIDs become "00000000-" + random hex (UUID-shaped,
    unique, unguessable: a restored cluster needs an ACL bootstrap reset).
    Everything else is copied byte for byte.
    """
    from .rewrite import redact_decider, redact_meta_addresses, rewrite_archive

    try:
        report = rewrite_archive(
            src,
            dst,
            redact_decider(node_secrets=node_secrets, identities=identities),
            meta_edit=redact_meta_addresses if addresses else None,
            force=force,
        )
    except Exception as exc:  # noqa: BLE001
        _fail(exc, json_out)
    _finish(report, json_out, "redacted")
