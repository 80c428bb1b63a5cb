"""The documentation runs: every ```sh and ```python block in docs/ and spec/.

Each block runs as one script (``bash -eo pipefail`` for sh). The blocks of
a page run in order, in one fresh temporary directory holding a copy of the
repository's ``fixtures/`` (as a reader following the page would), with
``snaptool`` and ``python`` on PATH meaning this checkout. The block's exit
status must be the one it declares in a ``# exit: N`` comment (default 0).
Illustrative blocks (installation, a live Nomad) use ```text instead.

Also: the generated pages render, and ``mkdocs build --strict`` passes when
mkdocs and its plugins are installed (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import REPO

DOC_ROOTS = (REPO / "docs", REPO / "spec")
RUNNABLE = ("sh", "python")
#: fences allowed besides the runnable ones (shell-like fences would escape
#: the test, so they are refused)
ILLUSTRATIVE = ("text", "yaml", "json", "toml", "ini", "")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
EXIT = re.compile(r"#\s*exit:\s*(\d+)\s*$", re.M)


def _pages() -> list[Path]:
    return sorted(p for root in DOC_ROOTS for p in root.rglob("*.md") if "_hooks" not in p.parts)


def _blocks() -> list[tuple[str, str, str, int]]:
    """(id, language, code, expected exit) for every runnable block."""
    out = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group("lang") not in RUNNABLE:
                continue
            line = text.count("\n", 0, m.start()) + 1
            code = textwrap.dedent(m.group("body"))
            declared = EXIT.findall(code)
            expected = int(declared[-1]) if declared else 0
            out.append((f"{page.relative_to(REPO)}:{line}", m.group("lang"), code, expected))
    return out


BLOCKS = _blocks()


@pytest.fixture(scope="session")
def shim_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``snaptool``, ``python`` and ``python3`` meaning this checkout."""
    bin_dir = tmp_path_factory.mktemp("docs-bin")
    scripts = {
        "snaptool": f'#!/bin/sh\nexec "{sys.executable}" -m snaptool "$@"\n',
        "python": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
        "python3": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(0o755)
    return bin_dir


def test_docs_have_runnable_blocks() -> None:
    pages = {b[0].split(":")[0] for b in BLOCKS}
    assert len(BLOCKS) >= 20, f"only {len(BLOCKS)} runnable blocks found"
    for how_to in sorted((REPO / "docs" / "how-to").glob("*.md")):
        if how_to.name == "save-restore.md":
            continue  # needs a live Nomad: text blocks, and says so
        assert str(how_to.relative_to(REPO)) in pages, f"{how_to.name} runs no command"


def test_no_untested_shell_fences() -> None:
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            lang = m.group("lang")
            assert lang in RUNNABLE + ILLUSTRATIVE, (
                f"{page.relative_to(REPO)}: fence ```{lang} is neither run (sh, python) "
                f"nor illustrative ({', '.join(ILLUSTRATIVE[:-1])})"
            )


def _run_block(lang: str, code: str, work: Path, shim_bin: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "SOURCE_DATE_EPOCH"))}
    env.update(
        PATH=f"{shim_bin}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        HOME=str(work),
        COLUMNS="100",
        NO_COLOR="1",
    )
    argv = ["bash", "-eo", "pipefail", "-c", code] if lang == "sh" else [sys.executable, "-c", code]
    return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=120)


def _run_page(blocks: list[tuple[str, str, str, int]], work: Path, shim_bin: Path) -> dict[str, subprocess.CompletedProcess]:
    """A page's blocks in order, in one directory, as a reader would run them."""
    shutil.copytree(REPO / "fixtures", work / "fixtures", symlinks=True)
    return {where: _run_block(lang, code, work, shim_bin) for where, lang, code, _ in blocks}


@pytest.fixture(scope="session")
def block_results(tmp_path_factory: pytest.TempPathFactory, shim_bin: Path) -> dict[str, subprocess.CompletedProcess]:
    """Every block: the pages run concurrently (each in its own directory, a
    copy of fixtures/ in it), a page's blocks one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    pages: dict[str, list[tuple[str, str, str, int]]] = {}
    for block in BLOCKS:
        pages.setdefault(block[0].rsplit(":", 1)[0], []).append(block)
    root = tmp_path_factory.mktemp("docs-pages")
    results: dict[str, subprocess.CompletedProcess] = {}
    with ThreadPoolExecutor(max_workers=max(2, min(len(pages), 8))) as pool:
        futures = []
        for i, blocks in enumerate(pages.values()):
            work = root / f"p{i:02d}"
            work.mkdir()
            futures.append(pool.submit(_run_page, blocks, work, shim_bin))
        for f in futures:
            results.update(f.result())
    return results


def test_exit_declared_on_last_line() -> None:
    """A block stops at its first failing command, so a non-zero ``# exit:``
    belongs to the block's last line (one failing command per block)."""
    for where, _lang, code, _expected in BLOCKS:
        lines = [line for line in code.splitlines() if line.strip()]
        for line in lines[:-1]:
            assert not EXIT.search(line), f"{where}: '# exit:' must be on the block's last line"


@pytest.mark.parametrize("where,lang,code,expected", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_doc_block_runs(where: str, lang: str, code: str, expected: int, block_results) -> None:
    proc = block_results[where]
    assert proc.returncode == expected, (
        f"{where}: exit {proc.returncode}, the block declares {expected}\n"
        f"--- code\n{code}--- stdout\n{proc.stdout[-3000:]}--- stderr\n{proc.stderr[-3000:]}"
    )


def _hooks():
    spec = importlib.util.spec_from_file_location("snaptool_docs", REPO / "docs" / "_hooks" / "snaptool_docs.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_cli_reference_covers_every_command() -> None:
    from typer.main import get_command

    from snaptool.cli import app

    page = _hooks().render_cli()
    group = get_command(app)
    names = group.list_commands(None)  # type: ignore[arg-type]
    assert len(names) >= 10
    for name in names:
        assert f"## snaptool {name} {{#snaptool-{name}}}" in page
        assert f"Usage: snaptool {name} " in page


def test_fixture_catalogue_lists_every_archive() -> None:
    page = _hooks().render_fixtures()
    for snap in sorted((REPO / "fixtures").rglob("*.snap")):
        assert f"`{snap.relative_to(REPO)}`" in page, snap


def test_nav_pages_exist() -> None:
    yaml = pytest.importorskip("yaml")

    class _Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may use !!python/name tags; ignore any tag
    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=_Loader)
    generated = {"reference/cli.md", "reference/fixtures.md"}

    def walk(items):
        for item in items:
            for value in item.values():
                if isinstance(value, list):
                    yield from walk(value)
                else:
                    yield value

    for page in walk(config["nav"]):
        if page in generated:
            continue
        if page.startswith("spec/"):
            assert (REPO / page).is_file(), page
        else:
            assert (REPO / "docs" / page).is_file(), page


def _mkdocs_missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


@pytest.mark.skipif(
    _mkdocs_missing() is not None,
    reason=f"mkdocs toolchain not installed ({_mkdocs_missing()}); pip install -e '.[docs]'",
)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
    assert (tmp_path / "site" / "spec" / "index.html").is_file()
