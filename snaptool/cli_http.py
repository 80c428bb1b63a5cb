"""``snaptool save`` and ``snaptool restore``: through Nomad's HTTP API, safely.

Exit codes: 0 done; 1 refused (verify says the archive would be refused or
crash the restore, or Nomad answered with an error); 2 trouble (connection,
timeout, proxy page, Digest, usage, local files).

The library side is :mod:`snaptool.http`; this module only parses flags,
asks, and prints.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Annotated, Any, Iterator, NoReturn, Optional

import typer

ADDRESS_HELP = "Nomad's HTTP address (env NOMAD_ADDR; default http://127.0.0.1:4646; unix:// too)."
TOKEN_HELP = "ACL token (env NOMAD_TOKEN); save and restore need a management token."
REGION_HELP = "Region to send the request to (env NOMAD_REGION)."
CACERT_HELP = "CA certificate file to verify Nomad's TLS certificate (env NOMAD_CACERT)."
CAPATH_HELP = "Directory of CA certificates (env NOMAD_CAPATH)."
CERT_HELP = "Client certificate for TLS (env NOMAD_CLIENT_CERT)."
KEY_HELP = "Client key for TLS (env NOMAD_CLIENT_KEY)."
SKIP_HELP = "Do not verify Nomad's TLS certificate (env NOMAD_SKIP_VERIFY)."
TIMEOUT_HELP = "Give up after this many seconds without progress (default 300)."

# The options save and restore share, declared once (nomad CLI conventions).
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary.")]
TargetOpt = Annotated[
    Optional[str],
    typer.Option("--target", help="Nomad version to verify for when the server does not report its own."),
]
EditionOpt = Annotated[str, typer.Option("--edition", help="Edition for --target: ce or ent.")]
AddressOpt = Annotated[Optional[str], typer.Option("--address", help=ADDRESS_HELP)]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help=TOKEN_HELP)]
RegionOpt = Annotated[Optional[str], typer.Option("--region", help=REGION_HELP)]
CaCertOpt = Annotated[Optional[str], typer.Option("--ca-cert", help=CACERT_HELP)]
CaPathOpt = Annotated[Optional[str], typer.Option("--ca-path", help=CAPATH_HELP)]
CertOpt = Annotated[Optional[str], typer.Option("--client-cert", help=CERT_HELP)]
KeyOpt = Annotated[Optional[str], typer.Option("--client-key", help=KEY_HELP)]
SkipOpt = Annotated[bool, typer.Option("--tls-skip-verify", help=SKIP_HELP)]
TimeoutOpt = Annotated[Optional[float], typer.Option("--timeout", help=TIMEOUT_HELP)]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Progress bar (only on a terminal).")
]


def _connection(**flags: Any) -> Any:
    from .http import Connection

    if flags.get("skip_verify") is False:
        flags["skip_verify"] = None  # not given: the environment decides
    return Connection.from_env(**flags)


@contextmanager
def _progress_bar(label: str, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr when it is a terminal; else a no-op."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: Optional[int]) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def _interactive() -> bool:
    """Can we ask? (stdin and stderr are terminals.)"""
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _warn(text: str) -> None:
    typer.echo(f"snaptool: warning: {text}", err=True)


def _render_findings(report: Any) -> None:
    from .cli import _render_verify

    _render_verify(report, False)


def _parse_target(target: Optional[str], edition: str) -> Any:
    from .cli import _target

    if target is None:
        if edition != "ce":
            from .errors import UsageError

            raise UsageError("--edition needs --target (the server's own edition is used)")
        return None
    return _target(target, edition)


def _refused(exc: Any, json_out: bool, summary: dict[str, Any]) -> NoReturn:
    """verify (or Nomad) said no: warnings, one line, the findings; exit 1."""
    from .cli import _print_json

    for w in exc.warnings:
        _warn(w)
    typer.echo(f"snaptool: {exc}", err=True)
    if json_out:
        _print_json({**summary, "verify": exc.report.to_dict()})
    else:
        _render_findings(exc.report)
    raise typer.Exit(1) from None


def save(
    file: Optional[str] = typer.Argument(
        None, help="Where to write the snapshot (default: nomad-state-YYYYMMD-UNIXSECONDS.snap)."
    ),
    stale: bool = typer.Option(False, "--stale", help="Let any server answer, even without a leader."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
    json_out: JsonOpt = False,
    target: TargetOpt = None,
    edition: EditionOpt = "ce",
    address: AddressOpt = None,
    token: TokenOpt = None,
    region: RegionOpt = None,
    ca_cert: CaCertOpt = None,
    ca_path: CaPathOpt = None,
    client_cert: CertOpt = None,
    client_key: KeyOpt = None,
    skip_verify: SkipOpt = False,
    timeout: TimeoutOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Save a snapshot from Nomad (GET /v1/operator/snapshot), checked before it is kept.

    The download goes to a temporary file beside FILE; the Digest header and
    the full verify must pass before it is renamed into place. Exit 0 saved,
    1 refused (by Nomad, or the archive fails verify), 2 trouble.
    """
    from .cli import _fail, _print_json
    from .http import SaveRefused, save as run_save

    try:
        conn = _connection(
            address=address, token=token, region=region, ca_cert=ca_cert, ca_path=ca_path,
            client_cert=client_cert, client_key=client_key, skip_verify=skip_verify,
            timeout=timeout,
        )
        goal = _parse_target(target, edition)
        with _progress_bar("Downloading snapshot", progress) as update:
            result = run_save(conn, file, stale=stale, force=force, target=goal, progress=update)
    except SaveRefused as exc:
        _refused(exc, json_out, {"file": exc.report.path, "saved": False})
    except KeyboardInterrupt:
        typer.echo("snaptool: save: interrupted; nothing saved", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into a line
        _fail(exc, json_out)
    for w in result.warnings:
        _warn(w)
    if json_out:
        out = result.to_dict()
        out["saved"] = True
        _print_json(out)
        return
    report = result.report
    bits = [f"index {result.index}" if result.index is not None else None, f"{result.bytes} bytes"]
    if result.digest_checked and result.digest:
        bits.append(f"Digest {result.digest.algorithm} checked")
    warnings = sum(1 for f in report.findings if f.severity == "warning")
    bits.append(
        f"verified for {report.target.describe()}"
        + (f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else "")
    )
    typer.echo(f"State file written to {result.path} ({', '.join(b for b in bits if b)})")
    for f in report.findings:
        if f.severity == "warning":
            where = f.location()
            typer.echo(f"  warning {f.code}: {where + ': ' if where else ''}{f.message}", err=True)


def restore(
    file: str = typer.Argument(..., help="Snapshot archive to restore."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: JsonOpt = False,
    target: TargetOpt = None,
    edition: EditionOpt = "ce",
    address: AddressOpt = None,
    token: TokenOpt = None,
    region: RegionOpt = None,
    ca_cert: CaCertOpt = None,
    ca_path: CaPathOpt = None,
    client_cert: CertOpt = None,
    client_key: KeyOpt = None,
    skip_verify: SkipOpt = False,
    timeout: TimeoutOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Restore a snapshot into Nomad (PUT /v1/operator/snapshot), verified first.

    The archive is checked against the server's own Nomad version; one that
    would be refused or crash the restore is not sent. Replaces the cluster's
    whole state: asks first unless --yes. Exit 0 restored, 1 refused (by
    verify or by Nomad), 2 trouble.
    """
    from .cli import _fail, _print_json
    from .http import RestoreRefused, plan_restore, send_restore

    try:
        conn = _connection(
            address=address, token=token, region=region, ca_cert=ca_cert, ca_path=ca_path,
            client_cert=client_cert, client_key=client_key, skip_verify=skip_verify,
            timeout=timeout,
        )
        goal = _parse_target(target, edition)
        plan = plan_restore(conn, file, target=goal)
    except RestoreRefused as exc:
        _refused(exc, json_out, {"file": file, "restored": False})
    except KeyboardInterrupt:
        typer.echo("snaptool: restore: interrupted; nothing sent", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001
        _fail(exc, json_out)
    for w in plan.warnings:
        _warn(w)
    meta = plan.report.meta
    server = plan.server
    who = plan.report.target.describe()
    if server is not None and server.source != "default":
        who = f"{who} ({server.name or 'server'} in region {server.region or '?'})"
    if not yes:
        if not _interactive():
            typer.echo(
                "snaptool: restore: refusing to restore without confirmation: not on a "
                "terminal; pass --yes to restore non-interactively",
                err=True,
            )
            raise typer.Exit(2)
        summary = (
            f"{plan.path}: verified for {who}"
            + (f": index {meta.Index}, term {meta.Term}" if meta is not None else "")
            + f", {plan.size} bytes."
        )
        typer.echo(summary, err=True)
        try:
            agreed = typer.confirm(
                f"Replace the whole state of the cluster at {conn.display} with it?",
                default=False,
                err=True,
            )
        except (typer.Abort, KeyboardInterrupt, EOFError):
            agreed = False
        if not agreed:
            typer.echo("snaptool: restore: not confirmed; nothing sent", err=True)
            raise typer.Exit(2)
    try:
        with _progress_bar("Sending snapshot", progress) as update:
            result = send_restore(conn, plan, progress=update)
    except KeyboardInterrupt:
        typer.echo(
            "snaptool: restore: interrupted while sending; the server may have received part "
            "of it (a partial upload is not applied)",
            err=True,
        )
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001
        _fail(exc, json_out)
    if json_out:
        _print_json(result.to_dict())
        return
    typer.echo(
        f"Snapshot restored: {result.path} ({result.bytes} bytes"
        + (f", snapshot index {meta.Index}" if meta is not None else "")
        + f") into {conn.display}"
    )


def register(app: typer.Typer) -> None:
    app.command("save")(save)
    app.command("restore")(restore)
