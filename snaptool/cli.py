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
import os
import sys
from typing import Any, NoReturn

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
    from .format.records import LATEST_NOMAD

    if not version.strip():
        raise UsageError("--target needs a Nomad version such as 1.9.2, or latest")
    if version.strip().lower().endswith(("+ent", "-ent", ".ent")) and edition == "ce":
        raise UsageError(f"--target {version}: give the edition with --edition ent")
    try:
        parsed = parse_version(version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if parsed > LATEST_NOMAD:
        typer.echo(
            f"snaptool: warning: Nomad {version} is newer than any version snaptool knows "
            f"({'.'.join(map(str, LATEST_NOMAD))}); judged by what that one restores",
            err=True,
        )
    if edition not in ("ce", "ent"):
        raise UsageError(f"--edition must be ce or ent, not {edition!r}")
    return Target(parsed, edition)


def _error_line(message: str, code: int, json_out: bool) -> NoReturn:
    """One line on stderr; with --json also ``{"error": ..., "exit": ...}`` on
    stdout, so that a script reading the JSON sees the failure too."""
    typer.echo(f"snaptool: {message}", err=True)
    if json_out:
        typer.echo(json.dumps({"error": message, "exit": code}))
    raise typer.Exit(code)


def _fail(exc: BaseException, json_out: bool = False) -> NoReturn:
    if isinstance(exc, SnaptoolError):
        _error_line(str(exc), exc.exit_code, json_out)
    if isinstance(exc, OSError) and not _state["debug"]:
        # a file the command could not open or write: the user's to fix
        where = exc.filename or ""
        _error_line(f"{where + ': ' if where else ''}{exc.strerror or exc}", 2, json_out)
    if isinstance(exc, UnicodeEncodeError) and exc.encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
        # the output stream's own encoding (PYTHONIOENCODING, a locale) cannot hold the text
        _error_line(
            f"the output's encoding ({exc.encoding}) cannot hold {exc.object[exc.start:exc.end]!r}: "
            "snaptool writes JSON as UTF-8 (set PYTHONIOENCODING=utf-8)",
            2,
            json_out,
        )
    if _state["debug"]:
        raise exc
    _error_line(
        f"internal error: {type(exc).__name__}: {exc} (run `snaptool --debug COMMAND ...` for a traceback)",
        2,
        json_out,
    )


#: Inputs at least this large get a progress bar (on a terminal, not --json).
PROGRESS_MIN_BYTES = 64 << 20


class _Bar:
    """A rich progress bar on stderr over the bytes of one input file, shown
    only when stderr is a terminal, the output is not JSON, and the file is
    large or standard input (of unknown size: the bytes read so far); otherwise
    a no-op. Used as a context manager; ``update`` is the library's
    ``progress`` callback."""

    def __init__(self, path: str, json_out: bool) -> None:
        import os

        self.progress: Any = None
        self.update: Any = None
        if json_out or not sys.stderr.isatty():
            return
        size: int | None = None  # standard input: how long is not known
        if path != "-":
            try:
                size = os.path.getsize(path) if os.path.isfile(path) else 0
            except OSError:
                size = 0
            if size < PROGRESS_MIN_BYTES:
                return
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=_stderr_console(),
        )
        task = self.progress.add_task("<stdin>" if path == "-" else os.path.basename(path), total=size)
        self.update = lambda done: self.progress.update(task, completed=done)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=4, ensure_ascii=False))


TARGET_HELP = "Nomad version that would restore the archive (e.g. 1.9.2; default: newest known)."
EDITION_HELP = "Edition of that Nomad: ce (community) or ent (Enterprise)."
TAR_HELP = "The input is an uncompressed tar (the archive without its gzip layer)."
STATE_HELP = "The input is a bare state.bin (records only: no archive around it)."


@app.command()
def verify(
    files: list[str] = typer.Argument(
        ...,
        help="Snapshot archives, raft snapshot directories, or directories of archives.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    strict: bool = typer.Option(False, "--strict", help="Fail on warnings too."),
    plain_tar: bool = typer.Option(False, "--tar", help=TAR_HELP),
    bare_state: bool = typer.Option(False, "--state", help=STATE_HELP),
    target: str = typer.Option("latest", "--target", help=TARGET_HELP),
    edition: str = typer.Option("ce", "--edition", help=EDITION_HELP),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Check this many files at once."),
    schema: bool = typer.Option(
        False,
        "--deep/--no-deep",
        "--schema/--no-schema",
        help="Also decode every record and check it against Nomad's Go types and "
        "state-store indexes, as the typed restore does (about ten times slower; "
        "without it records are framed, not decoded).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only failing files."),
) -> None:
    """Check archives: would Nomad accept and restore them? Exit 0 yes, 1 no, 2 trouble.

    A directory holding meta.json and state.bin is read as a raft snapshot
    directory; any other directory stands for the files directly in it
    (symbolic links and dot files are skipped)."""
    try:
        goal = _target(target, edition)
        if plain_tar and bare_state:
            raise UsageError("--tar and --state exclude each other")
        form = "tar" if plain_tar else "state" if bare_state else "auto"
        paths = _expand(files)
        results = _run_batch(paths, form, goal, jobs, schema, bar=not json_out)
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into a line
        _fail(exc, json_out)
    good = [r for r in results if not isinstance(r, str)]
    trouble = [r for r in results if isinstance(r, str)]
    for message in trouble:
        typer.echo(f"snaptool: {message}", err=True)
    failed = [r for r in good if not (r.strict_ok if strict else r.ok)]
    if json_out:
        if len(files) == 1 and len(paths) == 1 and good:
            _print_json(good[0].to_dict())
        else:
            _print_json(
                {
                    "reports": [r.to_dict() for r in good],
                    "errors": trouble,
                    "summary": {
                        "files": len(paths),
                        "ok": len(good) - len(failed),
                        "failed": len(failed),
                        "trouble": len(trouble),
                    },
                }
            )
    else:
        for r in good:
            if quiet and r not in failed:
                continue
            _render_verify(r, strict)
        if len(paths) > 1 and not quiet:
            typer.echo(
                f"{len(paths)} files: {len(good) - len(failed)} ok, {len(failed)} failed, "
                f"{len(trouble)} unreadable"
            )
    raise typer.Exit(2 if trouble else 1 if failed else 0)


def _expand(paths: list[str]) -> list[str]:
    import os

    out: list[str] = []
    for path in paths:
        raft_dir = os.path.isfile(os.path.join(path, "meta.json")) or os.path.isfile(
            os.path.join(path, "state.bin")
        )
        if os.path.isdir(path) and not raft_dir:
            with os.scandir(path) as entries:
                found = sorted(
                    e.path
                    for e in entries
                    if not e.name.startswith(".") and e.is_file(follow_symlinks=False)
                )
            if not found:
                raise UsageError(f"{path}: no files to check in this directory")
            out.extend(found)
        else:
            out.append(path)
    return out


def _verify_one(
    path: str, form: str, goal: Target, schema: bool = True, bar: bool = False
) -> Any:
    from .commands import verify as run_verify

    try:
        with _Bar(path, json_out=not bar) as progress:
            report = run_verify(
                path, form=form, target=goal, schema=schema, progress=progress.update
            )
    except SnaptoolError as exc:
        return str(exc)
    report.scan = None  # type: ignore[assignment]  # not needed past here
    return report


def _run_batch(
    paths: list[str], form: str, goal: Target, jobs: int, schema: bool, bar: bool = False
) -> list[Any]:
    if jobs == 1 or len(paths) == 1:
        return [_verify_one(p, form, goal, schema, bar) for p in paths]
    from concurrent.futures import ProcessPoolExecutor

    n = len(paths)
    # files are checked in parallel already: each in one process (no split reader)
    with ProcessPoolExecutor(max_workers=jobs, initializer=_one_process_each) as pool:
        return list(pool.map(_verify_one, paths, [form] * n, [goal] * n, [schema] * n))


def _one_process_each() -> None:
    os.environ["SNAPTOOL_SPLIT"] = "0"


def _render_verify(report: Any, strict: bool) -> None:
    findings = report.findings
    warnings = sum(1 for f in findings if f.severity == "warning")
    who = report.target.describe()
    if report.ok and (report.strict_ok or not strict):
        extra = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        what = {
            "state": f"{who} would restore its records (a bare state.bin: no archive to check)",
            "dir": f"{who} would restore it (a raft snapshot directory)",
            "tar": f"the tar-level reader accepts it and {who} would restore it",
        }.get(report.form, f"{who} would restore it")
        head = f"{report.path}: OK: {what}{extra}"
    elif report.ok:
        head = f"{report.path}: FAIL (strict): {warnings} warning{'s' if warnings != 1 else ''}"
    else:
        failing = {f.code for f in findings if f.severity in ("reject", "restore")}
        if any(f.severity == "reject" for f in findings):
            head = f"{report.path}: FAIL: Nomad's reader rejects it"
        elif failing == {"state.aborting-type"}:
            head = f"{report.path}: FAIL: {who} would report success but restore nothing"
        else:
            head = f"{report.path}: FAIL: {who} would refuse it or crash restoring it"
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
    bare_state: bool = typer.Option(False, "--state", help=STATE_HELP),
    target: str = typer.Option("latest", "--target", help=TARGET_HELP),
    edition: str = typer.Option("ce", "--edition", help=EDITION_HELP),
) -> None:
    """Metadata and per-type record counts and sizes (a directory: a raft snapshot directory)."""
    from .commands import inspect as run_inspect

    try:
        form = "tar" if plain_tar else "state" if bare_state else "auto"
        with _Bar(file, json_out) as bar:
            report = run_inspect(
                file, form=form, target=_target(target, edition), progress=bar.update
            )
    except Exception as exc:  # noqa: BLE001
        _fail(exc, json_out)
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
        for line in _columns(kv, " = "):  # Nomad's own first block, as it prints it
            typer.echo(line)
        span = report.written_by
        if span is not None:
            typer.echo("")
            typer.echo(f"Record types as written by Nomad {span[0]} to {span[1]}")
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
    import signal

    # A closed pipe (`snaptool state X | head`) ends us quietly, as it ends cat.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        app()
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(0) from None

