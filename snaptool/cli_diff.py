"""``snaptool diff A B``: registered into the app by :mod:`snaptool.cli`.

Rendering only; the comparison is :func:`snaptool.diff.diff`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

# Rich renders command help as markup: "[str]" would vanish, so it is escaped.
HELP = """Compare two snapshot archives: metadata, per-type counts and sizes,
objects added, removed and changed (by natural key), and changed fields.

Exit status as diff(1): 0 same content, 1 different, 2 trouble (a file that
cannot be read completely, a usage error). Content is meta.json's Version,
Index, Term, ConfigurationIndex and servers, and the decoded objects; with
--type/--namespace/--id only the objects in scope count. Packaging (gzip
bytes, tar mtimes, SHA256SUMS order, record order, Go map order) is not
content.

Times are RFC 3339, binary values "<N bytes sha256:HEX16>", secret fields
(ACL token and node SecretID, variable Data, root key material, ...) are never
printed: only that they changed.

\b
--json prints one object, schema "snaptool.diff/1" (fields are only added
within a schema version):
{"schema": "snaptool.diff/1", "same": bool,
 "filters": {"types": \\[str], "namespaces": \\[str], "ids": \\[str]},
 "a"/"b": {"file": str, "problems": \\[str],
           "meta": {"Version", "ID", "Index", "Term", "ConfigurationIndex",
                    "Size", "Servers": [{"ID", "Address", "Suffrage"}]} | null},
 "meta": [{"field": str, "a": any, "b": any}],
 "types": [{"type": int, "name": str, "a": {"count", "size"},
            "b": {"count", "size"}, "added": int, "removed": int,
            "changed": int}],
 "summary": {"added": int, "removed": int, "changed": int},
 "objects": [{"op": "added"|"removed"|"changed", "type": int, "name": str,
              "key": {field: value}, "id": str,
              "size": {"a": int|null, "b": int|null},
              "changes": [{"path": str,
                           "op": "changed"|"added"|"removed"|"reordered",
                           "old": any, "new": any, "secret": true}]}]}
("objects" is absent with --stat; "changes" only on changed objects; a
change has "old" unless added, "new" unless removed, and neither when it
carries "secret": true.)
"""


def register(app: typer.Typer) -> None:
    app.command("diff", help=HELP)(diff_command)


def diff_command(
    a: str = typer.Argument(..., metavar="A", help="The first (older) archive."),
    b: str = typer.Argument(..., metavar="B", help="The second (newer) archive."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (schema snaptool.diff/1)."),
    stat: bool = typer.Option(False, "--stat", help="Only the summary: metadata and per-type counts."),
    types: list[str] | None = typer.Option(
        None, "--type", "-t", help="Only this record type (name or number; repeat or comma-separate)."
    ),
    namespaces: list[str] | None = typer.Option(
        None, "--namespace", "-n", help="Only objects in this namespace (repeatable); types without one (Index, Node, ...) are left out, a Namespace record counts by its Name."
    ),
    ids: list[str] | None = typer.Option(
        None,
        "--id",
        help="Only objects whose key value or id (e.g. default/web) matches this shell pattern (repeatable).",
    ),
    color: bool | None = typer.Option(
        None, "--color/--no-color", help="Colour the output (default: when stdout is a terminal)."
    ),
) -> None:
    from .cli import _fail, _print_json
    from .diff import diff, parse_types

    try:
        wanted = parse_types(types) if types else None
        report = diff(a, b, types=wanted, namespaces=namespaces or (), ids=ids or (), fields=not stat)
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into a line
        _fail(exc, json_out)
    for side in (report.a, report.b):
        for p in side.problems:
            typer.echo(f"snaptool: {side.path}: warning: {p}", err=True)
    if json_out:
        _print_json(report.to_dict(stat=stat))
    else:
        lines = render_lines(report, stat)
        use_color = sys.stdout.isatty() if color is None else color
        if use_color:
            _print_rich(lines)
        else:
            for _, text in lines:
                typer.echo(text)
    raise typer.Exit(0 if report.same else 1)


# -- rendering for people ----------------------------------------------------------

Line = tuple[str, str]  # (style, text)


def _show(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def render_lines(report: Any, stat: bool) -> list[Line]:
    from .commands import iec_bytes

    out: list[Line] = []
    for side, mark in ((report.a, "---"), (report.b, "+++")):
        m = side.meta
        extra = f"  (Index {m.Index}, Term {m.Term}, ID {m.ID or '<none>'})" if m else "  (no meta.json)"
        out.append(("bold", f"{mark} {side.path}{extra}"))
    if report.meta:
        out.append(("", ""))
        out.append(("bold", "meta:"))
        for c in report.meta:
            out.append(("yellow", f"  {c.field}: {_show(c.a)} -> {_show(c.b)}"))
    rows = [
        t
        for t in report.types
        if t.added or t.removed or t.changed or t.count_a != t.count_b or t.size_a != t.size_b
    ]
    if rows:
        out.append(("", ""))
        table = [["type", "count", "size", "objects"]]
        for t in rows:
            count = str(t.count_a) if t.count_a == t.count_b else f"{t.count_a} -> {t.count_b}"
            size = (
                iec_bytes(t.size_a)
                if t.size_a == t.size_b
                else f"{iec_bytes(t.size_a)} -> {iec_bytes(t.size_b)} ({_signed(t.size_b - t.size_a)} B)"
            )
            objs = " ".join(
                s for s in (f"+{t.added}" if t.added else "", f"-{t.removed}" if t.removed else "",
                            f"~{t.changed}" if t.changed else "") if s
            )
            table.append([t.name, count, size, objs])
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        for i, r in enumerate(table):
            text = "  ".join(c.ljust(widths[j]) for j, c in enumerate(r)).rstrip()
            out.append(("bold" if i == 0 else "", text))
    s = report.summary()
    out.append(("", ""))
    if report.same:
        out.append(("green", "same content" + (" (in scope)" if report.filtered else "")))
    else:
        out.append(
            ("bold", f"{s['added']} added, {s['removed']} removed, {s['changed']} changed"
                     + (f", {len(report.meta)} metadata field(s) differ" if report.meta else ""))
        )
    if stat or not report.objects:
        return out
    out.append(("", ""))
    for o in report.objects:
        label = f"{o.name} {o.id}" if o.id else o.name
        if o.op == "added":
            out.append(("green", f"+ {label}"))
        elif o.op == "removed":
            out.append(("red", f"- {label}"))
        else:
            out.append(("yellow", f"~ {label}"))
            for c in o.changes:
                out.append(("", "    " + change_text(c)))
    return out


def change_text(c: Any) -> str:
    """One field change as a line: ``TaskGroups[web].Count: 2 -> 3``."""
    if c.secret:
        return f"{c.path}: <secret {c.op}>"
    if c.op == "added":
        return f"{c.path}: added {_show(c.new)}"
    if c.op == "removed":
        return f"{c.path}: removed {_show(c.old)}"
    if c.op == "reordered":
        return f"{c.path}: order {_show(c.old)} -> {_show(c.new)}"
    return f"{c.path}: {_show(c.old)} -> {_show(c.new)}"


def _print_rich(lines: list[Line]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True, force_terminal=True)
    for style, text in lines:
        console.print(Text(text, style=style or ""))
