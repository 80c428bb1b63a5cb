"""Markdown tables the spec shares with the code (a test keeps them equal)."""

from __future__ import annotations

from .findings import CODES
from .format.records import REGISTRY, Version

__all__ = ["findings_table", "records_table"]


def _v(version: Version) -> str:
    if version[0] >= 999:
        return "-"
    if version[2] >= 99:
        return f"{version[0]}.{version[1]}.x"
    return ".".join(map(str, version))


def records_table() -> str:
    lines = [
        "| # | name | edition | written by | restore behaviour | key | note |",
        "|---:|---|---|---|---|---|---|",
    ]
    for rt in REGISTRY:
        written = "never" if rt.written is None else f"{_v(rt.written[0])} to {_v(rt.written[1])}"
        if rt.written is not None and rt.written[1][0] >= 999:
            written = f"{_v(rt.written[0])} on"
        steps = ", ".join(f"{what} from {_v(v)}" for v, what in rt.restore)
        if rt.backports:
            steps += "; restore in " + ", ".join(f"{_v(a)} to {_v(b)}" for a, b in rt.backports)
        lines.append(
            f"| {rt.number} | {rt.name} | {rt.edition} | {written} | {steps} | "
            f"{', '.join(rt.key) or '-'} | {rt.note or ''} |"
        )
    return "\n".join(lines) + "\n"


def findings_table() -> str:
    lines = ["| code | severity | meaning |", "|---|---|---|"]
    for code, (severity, text) in CODES.items():
        lines.append(f"| `{code}` | {severity} | {text} |")
    return "\n".join(lines) + "\n"


def rewrite(path: str) -> bool:
    """Put the current tables between the spec's BEGIN/END markers; True if
    the file changed. Run ``python -m snaptool.spectables spec/README.md``."""
    import re

    with open(path, encoding="utf-8") as f:
        text = f.read()
    new = text
    for name, table in (("records", records_table()), ("findings", findings_table())):
        new = re.sub(
            rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)",
            lambda m, t=table: m.group(1) + t + m.group(2),
            new,
            flags=re.DOTALL,
        )
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


if __name__ == "__main__":
    import sys

    for arg in sys.argv[1:]:
        print(f"{arg}: {'rewritten' if rewrite(arg) else 'up to date'}")
