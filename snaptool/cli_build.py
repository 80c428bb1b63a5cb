"""``snaptool build``: a manifest in, an archive Nomad restores out.

Registered by :func:`snaptool.cli._register_extensions`; the heavy modules
are imported inside the command.
"""

from __future__ import annotations

from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(name="build")(build_command)


def build_command(
    manifest: str = typer.Argument(..., help="Manifest (YAML, or JSON when it ends in .json)."),
    output: str = typer.Option(..., "--output", "-o", help="Archive to write."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace OUTPUT if it exists."),
    mtime: Optional[int] = typer.Option(
        None,
        "--mtime",
        help="Tar ModTime and ID time, in Unix seconds (default: SOURCE_DATE_EPOCH, else 0).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Build a snapshot archive from a manifest; same manifest and mtime, same bytes."""
    from .cli import _fail, _print_json

    try:
        from .build import build

        built = build(manifest, output=output, mtime=mtime, force=force)
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into a line
        _fail(exc, json_out)
    summary: dict[str, Any] = {
        "output": output,
        "bytes": len(built.archive),
        "records": len(built.records),
        "counts": built.counts(),
        "meta": {"ID": built.meta.ID, "Index": built.meta.Index, "Term": built.meta.Term, "Size": built.meta.Size},
        "mtime": built.mtime,
    }
    if json_out:
        _print_json(summary)
        return
    counts = ", ".join(f"{name} {n}" for name, n in sorted(built.counts().items()))
    typer.echo(
        f"{output}: {len(built.archive)} bytes, {len(built.records)} records "
        f"({counts or 'none'}), ID {built.meta.ID}"
    )
