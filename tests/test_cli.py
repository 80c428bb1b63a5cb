"""The command line: exit codes, one line per finding, JSON shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snaptool.cli import app

from .conftest import CASES, FIXTURES, needs_shared

runner = CliRunner()
OK = FIXTURES / "synthetic" / "ok-canonical.snap"


def run(*args: str):
    return runner.invoke(app, list(args))


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("snaptool ")


def test_verify_ok_exit_0() -> None:
    result = run("verify", str(OK))
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{OK}: OK")


@needs_shared
def test_verify_bad_exit_1_one_line_per_finding() -> None:
    bad = CASES / "bad-state-hash.snap"
    result = run("verify", str(bad))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{bad}: FAIL")
    failing = [line for line in lines[1:] if line.split()[0] in ("reject", "restore")]
    assert len(failing) == 1
    assert "state.bin" in failing[0] and "sums.hash-mismatch" in failing[0]


@needs_shared
def test_strict_fails_on_warnings() -> None:
    crlf = CASES / "ok-sums-crlf.snap"
    assert run("verify", str(crlf)).exit_code == 0
    assert run("verify", "--strict", str(crlf)).exit_code == 1


def test_missing_file_exit_2(tmp_path: Path) -> None:
    result = run("verify", str(tmp_path / "nope.snap"))
    assert result.exit_code == 2
    assert "nope.snap" in result.stderr and "Traceback" not in result.output


def test_directory_exit_2(tmp_path: Path) -> None:
    assert run("verify", str(tmp_path)).exit_code == 2


def test_bad_target_is_usage_error() -> None:
    result = run("verify", "--target", "one.two", str(OK))
    assert result.exit_code == 2 and "not a Nomad version" in result.stderr


@needs_shared
def test_verify_json_lists_many_files() -> None:
    result = run("verify", "--json", str(OK), str(CASES / "bad-crc.snap"))
    assert result.exit_code == 1
    obj = json.loads(result.stdout)
    reports = obj["reports"]
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[1]["findings"][0]["code"] == "gzip.crc-mismatch"
    assert reports[1]["findings"][0]["member"] == "gzip"
    assert obj["summary"] == {"files": 2, "ok": 1, "failed": 1, "trouble": 0}


def test_inspect_json_has_nomads_shape() -> None:
    result = run("inspect", "--json", str(OK))
    assert result.exit_code == 0
    obj = json.loads(result.stdout)
    assert list(obj["Meta"]) == sorted(obj["Meta"])  # alphabetical, as Nomad prints
    assert set(obj["Meta"]) == {
        "Configuration", "ConfigurationIndex", "ID", "Index", "Peers", "Size", "Term", "Version",
    }
    assert all(list(s) == ["Count", "Name", "Sum"] for s in obj["Stats"])
    sums = [s["Sum"] for s in obj["Stats"]]
    assert sums == sorted(sums, reverse=True)
    assert obj["TotalSize"] == obj["Meta"]["Size"]  # every state.bin byte is counted


def test_inspect_human_table() -> None:
    result = run("inspect", str(OK))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    # Nomad's formatKV block first: keys padded to the widest, joined by " = "
    assert lines[0].startswith("Created = ") and lines[1].startswith("ID      = ")
    assert [line.split(" = ")[0].rstrip() for line in lines[:6]] == [
        "Created", "ID", "Size", "Index", "Term", "Version",
    ]
    assert any(line.split()[:3] == ["Type", "Count", "Size"] for line in lines)
    assert lines[-1].startswith("Total")


@needs_shared
def test_inspect_unreadable_exit_1() -> None:
    result = run("inspect", str(CASES / "bad-html-page.snap"))
    assert result.exit_code == 1
    assert "HTML page" in result.stderr


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "snaptool", "verify", str(OK)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("args", [["inspect"], ["verify"], ["nosuch"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).exit_code == 2


def test_inspect_of_standard_input_gives_the_compressed_size() -> None:
    """A pipe has no size to ask for: the bytes read to its end are it."""
    snap = FIXTURES / "genuine" / "nomad-1.6.1-basic.snap"
    data = snap.read_bytes()
    out = subprocess.run(
        [sys.executable, "-m", "snaptool", "inspect", "--json", "-"], input=data, capture_output=True, check=True
    )
    archive = json.loads(out.stdout)["Archive"]
    assert archive["CompressedSize"] == len(data)
    assert archive["File"] == "-"


def test_progress_bars_only_on_a_terminal_for_big_files_and_standard_input(tmp_path, monkeypatch) -> None:
    """A bar for a file of 64 MiB or more and for standard input (its size
    unknown), on a terminal and without --json; nothing otherwise."""
    from snaptool import cli

    big = tmp_path / "big.snap"
    with open(big, "wb") as f:
        f.truncate(cli.PROGRESS_MIN_BYTES)
    small = FIXTURES / "genuine" / "nomad-1.6.1-basic.snap"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    totals = {}
    for name, path, json_out in (("big", big, False), ("stdin", "-", False), ("small", small, False), ("json", big, True)):
        bar = cli._Bar(str(path), json_out)
        totals[name] = None if bar.progress is None else bar.progress.tasks[0].total
    assert totals == {"big": cli.PROGRESS_MIN_BYTES, "stdin": None, "small": None, "json": None}
    assert cli._Bar("-", False).progress is not None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli._Bar(str(big), False).progress is None and cli._Bar("-", False).progress is None
