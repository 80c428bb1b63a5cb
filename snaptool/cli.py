"""The ``snaptool`` command line: the only module that prints.

Exit codes (all commands):

* 0: success; for ``verify``, every file would be restored by Nomad
  (warnings allowed unless ``--strict``);
* 1: ``verify``: at least one file would be refused, or would crash the
  restore (or has warnings, with ``--strict``); ``inspect``: the archive could
  not be read completely;
* 2: trouble: a usage error, a file that cannot be opened, an internal error.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn, Optional

import typer

from . import __version__
from .checks import Target
from .errors import SnaptoolError, UsageError
from .format.records import parse_version

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Read, check, compare and write HashiCorp Nomad snapshot archives offline.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"snaptool {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on internal errors."),
) -> None:
    """snaptool: Nomad snapshot archives, offline."""
    _state["debug"] = debug


def _target(version: str, edition: str) -> Target:
    try:
        parsed = parse_version(version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if edition not in ("ce", "ent"):
        raise UsageError(f"--edition must be ce or ent, not {edition!r}")
    return Target(parsed, edition)


def _fail(exc: BaseException) -> NoReturn:
    if isinstance(exc, SnaptoolError):
        typer.echo(f"snaptool: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    if _state["debug"]:
        raise exc
    typer.echo(
        f"snaptool: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
        err=True,
    )
    raise typer.Exit(2)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=4, ensure_ascii=False))


TARGET_HELP = "Nomad version that would restore the archive (e.g. 1.9.2; default: newest known)."
EDITION_HELP = "Edition of that Nomad: ce (community) or ent (Enterprise)."
TAR_HELP = "The input is an uncompressed tar (the archive without its gzip layer)."


@app.command()
def verify(
    files: list[str] = typer.Argument(..., help="Snapshot archives to check."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    strict: bool = typer.Option(False, "--strict", help="Fail on warnings too."),
    plain_tar: bool = typer.Option(False, "--tar", help=TAR_HELP),
    target: str = typer.Option("latest", "--target", help=TARGET_HELP),
    edition: str = typer.Option("ce", "--edition", help=EDITION_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only failing files."),
) -> None:
    """Check archives: would Nomad accept and restore them? Exit 0 yes, 1 no, 2 trouble."""
    from .commands import verify as run_verify

    try:
        goal = _target(target, edition)
        reports = []
        trouble = False
        for path in files:
            try:
                reports.append(run_verify(path, plain_tar=plain_tar, target=goal))
            except SnaptoolError as exc:
                trouble = True
                typer.echo(f"snaptool: {exc}", err=True)
                reports.append(None)
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into a line
        _fail(exc)
    good = [r for r in reports if r is not None]
    failed = any(not (r.strict_ok if strict else r.ok) for r in good)
    if json_out:
        obj = [r.to_dict() for r in good]
        _print_json(obj[0] if len(files) == 1 and obj else obj)
    else:
        for r in good:
            passed = r.strict_ok if strict else r.ok
            if quiet and passed:
                continue
            _render_verify(r, strict)
    raise typer.Exit(2 if trouble else 1 if failed else 0)


def _render_verify(report: Any, strict: bool) -> None:
    findings = report.findings
    warnings = sum(1 for f in findings if f.severity == "warning")
    who = report.target.describe()
    if report.ok and (report.strict_ok or not strict):
        extra = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        head = f"{report.path}: OK: {who} would restore it{extra}"
    elif report.ok:
        head = f"{report.path}: FAIL (strict): {warnings} warning{'s' if warnings != 1 else ''}"
    else:
        rejects = [f for f in findings if f.severity == "reject"]
        head = (
            f"{report.path}: FAIL: Nomad's reader rejects it"
            if rejects
            else f"{report.path}: FAIL: {who} would refuse it or crash restoring it"
        )
    typer.echo(head)
    for f in findings:
        where = f.location()
        line = f"  {f.severity:<7} {f.code}: {where + ': ' if where else ''}{f.message}"
        if f.nomad:
            line += f" [Nomad: {f.nomad}]"
        typer.echo(line)


@app.command()
def inspect(
    file: str = typer.Argument(..., help="Snapshot archive to inspect."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (Nomad's -json shape plus more)."),
    plain_tar: bool = typer.Option(False, "--tar", help=TAR_HELP),
    target: str = typer.Option("latest", "--target", help=TARGET_HELP),
    edition: str = typer.Option("ce", "--edition", help=EDITION_HELP),
) -> None:
    """Metadata and per-type record counts and sizes."""
    from .commands import inspect as run_inspect

    try:
        report = run_inspect(file, plain_tar=plain_tar, target=_target(target, edition))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    readable = not any(f.severity == "reject" for f in report.verify.findings) and (
        report.verify.scan.state is not None and report.verify.scan.state.complete
    )
    if json_out:
        _print_json(report.to_dict())
    else:
        _render_inspect(report)
        problems = [f for f in report.verify.findings if f.severity in ("reject", "restore")]
        if problems:
            typer.echo("", err=True)
            for f in problems:
                where = f.location()
                typer.echo(f"{f.severity}: {f.code}: {where + ': ' if where else ''}{f.message}", err=True)
    raise typer.Exit(0 if readable else 1)


def _columns(rows: list[list[str]], glue: str) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.append(glue.join(cells).rstrip())
    return out


def _render_inspect(report: Any) -> None:
    from .commands import created_local, iec_bytes

    meta = report.meta
    if meta is not None:
        kv = [
            ["Created", created_local(meta)],
            ["ID", meta.ID or "<none>"],
            ["Size", iec_bytes(meta.Size) if meta.Size >= 0 else str(meta.Size)],
            ["Index", str(meta.Index)],
            ["Term", str(meta.Term)],
            ["Version", str(meta.Version)],
        ]
        for line in _columns(kv, " = "):
            typer.echo(line)
        servers = meta.Servers or []
        if servers:
            typer.echo("")
            table = [["Server ID", "Address", "Suffrage"]]
            table += [[s.ID or "<none>", s.Address or "<none>", s.suffrage_name] for s in servers]
            for line in _columns(table, "  "):
                typer.echo(line)
    if report.rows:
        typer.echo("")
        table = [["Type", "Count", "Size"]]
        table += [[r.name, str(r.count), iec_bytes(r.sum)] for r in report.rows]
        table.append(["", "", ""])
        table.append(["Total", str(report.total_count), iec_bytes(report.total_size)])
        for line in _columns(table, "  "):
            typer.echo(line)


# Further commands live in modules of their own (snaptool/cli_<name>.py), each
# with ``register(app)``; importing them costs nothing until they run.
_EXTENSIONS = ("build", "diff", "state", "http")


def _register_extensions() -> None:
    import importlib

    for name in _EXTENSIONS:
        module_name = f"{__package__}.cli_{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)


_register_extensions()


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(0) from None


if __name__ == "__main__":  # pragma: no cover
    run()
