"""mkdocs hook: pages generated at build time.

* ``spec/*.md`` from the repository's ``spec/`` folder (the written format
  specification lives there so it reads on its own, e.g. on GitHub);
* ``reference/cli.md``: the ``--help`` of every command, rendered through
  click's plain formatter from the typer app (never hand-written);
* ``reference/fixtures.md``: the fixture corpus, from ``fixtures/README.md``,
  the manifests beside the archives, and snaptool's own verdict on each file.

``tests/test_docs.py`` imports this module to check the renderers without
mkdocs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HELP_WIDTH = 88


# --------------------------------------------------------------------- CLI


def cli_commands() -> list[tuple[str, Any, Any]]:
    """(name, click command, click context) for the app and each command."""
    import click
    import typer.main

    from snaptool.cli import app

    group = typer.main.get_command(app)
    root = click.Context(group, info_name="snaptool")
    out = [("snaptool", group, root)]
    for name in group.list_commands(root):
        cmd = group.get_command(root, name)
        out.append((name, cmd, click.Context(cmd, info_name=name, parent=root)))
    return out


def plain_help(cmd: Any, ctx: Any) -> str:
    """What ``--help`` says, without rich's boxes (click's own formatter)."""
    import click

    formatter = click.HelpFormatter(width=HELP_WIDTH, max_width=HELP_WIDTH)
    # typer overrides format_help with rich output; click's base method
    # renders the same usage, text and parameters as plain text.
    # The steps of click's Command.format_help, called one by one on the base
    # classes (click 8.5 added steps that typer's classes do not have).
    base = click.Group if isinstance(cmd, click.Group) else click.Command
    base.format_usage(cmd, ctx, formatter)
    base.format_help_text(cmd, ctx, formatter)
    base.format_options(cmd, ctx, formatter)
    base.format_epilog(cmd, ctx, formatter)
    return formatter.getvalue().rstrip() + "\n"


def render_cli() -> str:
    commands = cli_commands()
    lines = [
        "# CLI reference",
        "",
        "Generated at build time from the typer app in `snaptool/cli.py` (the",
        "same text `snaptool COMMAND --help` prints, without the boxes). Do not",
        "edit: change the command's help instead.",
        "",
        "Exit codes, for every command: **0** success, **1** the answer is",
        "\"no\" (verify: a file would be refused or crash the restore; diff: the",
        "archives differ; save/restore: refused), **2** trouble (usage error,",
        "unreadable file, internal error).",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for name, cmd, _ctx in commands[1:]:
        short = (cmd.get_short_help_str(limit=200) or "").replace("|", "\\|")
        lines.append(f"| [`{name}`](#snaptool-{name}) | {short} |")
    lines.append("")
    for name, cmd, ctx in commands:
        title = "snaptool" if name == "snaptool" else f"snaptool {name}"
        anchor = "snaptool" if name == "snaptool" else f"snaptool-{name}"
        lines += [f"## {title} {{#{anchor}}}", "", "```text", plain_help(cmd, ctx).rstrip(), "```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- fixtures


def _verdict(path: Path, target: str = "latest") -> str:
    from snaptool.checks import Target
    from snaptool.commands import verify
    from snaptool.format.records import parse_version

    try:
        report = verify(path, target=Target(parse_version(target)))
    except Exception as exc:  # noqa: BLE001 - shown in the table
        return f"unreadable ({type(exc).__name__})"
    if report.ok:
        warnings = sum(1 for f in report.findings if f.severity == "warning")
        return "OK" + (f", {warnings} warning(s)" if warnings else "")
    codes = sorted({f.code for f in report.findings if f.severity in ("reject", "restore")})
    return "FAIL: " + ", ".join(f"`{c}`" for c in codes)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _demote(markdown: str) -> str:
    """Drop a README's own title and push its headings one level down."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("# "):
            continue
        if line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out).strip() + "\n"


def render_fixtures(root: Path = REPO) -> str:
    fx = root / "fixtures"
    lines = [
        "# Fixture corpus",
        "",
        "Generated at build time from `fixtures/README.md`, the manifests beside",
        "the archives, and `snaptool verify` (newest Nomad CE) on each file.",
        "Every path is relative to the repository root.",
        "",
        _demote((fx / "README.md").read_text(encoding="utf-8")),
    ]

    manifest = json.loads((fx / "genuine" / "MANIFEST.json").read_text(encoding="utf-8"))
    lines += ["## Genuine archives", "", _cell(manifest.get("about", "")), ""]
    lines += ["| file | Nomad | ACLs | size | restored by a fresh Nomad | snaptool verify |", "|---|---|---|---:|---|---|"]
    for name, item in manifest["fixtures"].items():
        path = fx / "genuine" / name
        restored = item.get("restore_check", {}).get("ok")
        lines.append(
            f"| `fixtures/genuine/{name}` | {item.get('nomad_version', '')} | "
            f"{'on' if item.get('acl_enabled') else 'off'} | {item.get('size', '')} | "
            f"{'yes' if restored else 'no' if restored is False else '?'} | {_verdict(path)} |"
        )
        cli = item.get("cli_file", {}).get("file")
        if cli:
            lines.append(
                f"| `fixtures/genuine/{cli}` (same state, `nomad operator snapshot save`) | "
                f"{item.get('nomad_version', '')} | {'on' if item.get('acl_enabled') else 'off'} | "
                f"{item['cli_file'].get('size', '')} | | {_verdict(fx / 'genuine' / cli)} |"
            )
    lines.append("")
    for name, item in manifest["fixtures"].items():
        lines += [f"### {name}", ""]
        made = item.get("made_by", {}).get("command")
        if made:
            lines += [f"Made by `{made}`.", ""]
        holds = item.get("holds", {})
        counts = ", ".join(f"{k.replace('_', ' ')}: {len(v)}" for k, v in holds.items() if isinstance(v, list) and v)
        if counts:
            lines += [f"Holds {counts}.", ""]
        created = item.get("created") or []
        if created:
            lines += ["Steps taken on the live cluster before the snapshot:", ""]
            lines += [f"- {_cell(step)}" for step in created]
            lines.append("")

    pairs = json.loads((fx / "genuine" / "pairs" / "MANIFEST.json").read_text(encoding="utf-8"))
    lines += ["## Before/after pairs (for `snaptool diff`)", "", _cell(pairs.get("about", "")), ""]
    lines += ["| file | state | snaptool verify |", "|---|---|---|"]
    for snap in pairs["snapshots"]:
        path = fx / "genuine" / "pairs" / snap["file"]
        lines.append(f"| `fixtures/genuine/pairs/{snap['file']}` | {_cell(snap.get('state', ''))} | {_verdict(path)} |")
    lines.append("")

    for folder, title in (("synthetic", "Synthetic archives"), ("recipes", "Recipes (`snaptool build` manifests)")):
        readme = fx / folder / "README.md"
        lines += [f"## {title}", "", _demote(readme.read_text(encoding="utf-8"))]
        snaps = sorted((fx / folder).rglob("*.snap"))
        if snaps:
            lines += ["| file | snaptool verify |", "|---|---|"]
            lines += [f"| `{p.relative_to(root)}` | {_verdict(p)} |" for p in snaps]
            lines.append("")

    lines += [
        "## Conformance cases",
        "",
        "Mutations on which snaptool and Nomad once disagreed (or still do: the",
        "`D1`-`D7` findings), each with a JSON record of both verdicts.",
        "",
        "| file | how it was made | Nomad 1.6.1 restores it | `snaptool verify --target 1.6.1` |",
        "|---|---|---|---|",
    ]
    for info in sorted((fx / "conformance").glob("*.json")):
        data = json.loads(info.read_text(encoding="utf-8"))
        snap = fx / "conformance" / data.get("file", info.with_suffix(".snap").name)
        nomad = data.get("nomad_v1.6.1", {}).get("ok")
        lines.append(
            f"| `fixtures/conformance/{snap.name}` | {_cell(data.get('how', ''))} | "
            f"{'yes' if nomad else 'no' if nomad is False else '?'} | {_verdict(snap, '1.6.1')} |"
        )
    lines.append("")
    return "\n".join(lines)


# -------------------------------------------------------------- mkdocs hook


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for page in sorted((REPO / "spec").glob("*.md")):
        files.append(File.generated(config, f"spec/{page.name}", abs_src_path=str(page)))
    files.append(File.generated(config, "reference/cli.md", content=render_cli()))
    files.append(File.generated(config, "reference/fixtures.md", content=render_fixtures()))
    return files
