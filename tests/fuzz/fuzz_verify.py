"""atheris target: any bytes through verify and inspect, in every input form.

Contract (issue "Hostile and broken input"): snaptool's own errors only, no
other exception, no hang, bounded memory. Run from the repository root:

    pip install atheris
    python tests/fuzz/fuzz_verify.py -max_total_time=1800 -rss_limit_mb=512 \\
        -timeout=20 tests/fuzz/corpus

The seed corpus is built from fixtures/ on first run. A crash leaves a
``crash-*`` file: turn it into a regression test.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from snaptool.commands import inspect, verify
    from snaptool.errors import SnaptoolError

REPO = Path(__file__).resolve().parents[2]
TMP = Path(tempfile.mkdtemp(prefix="snaptool-fuzz-"))
FILE = TMP / "input.snap"


def seed_corpus(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for path in sorted((REPO / "fixtures").rglob("*.snap")):
        if path.stat().st_size < 200_000:
            (corpus / path.name).write_bytes(path.read_bytes())


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    form = ("snap", "tar", "state")[fdp.ConsumeIntInRange(0, 2)]
    FILE.write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
    try:
        report = verify(FILE, form=form)
        for finding in report.findings:
            assert finding.message and finding.severity
        inspect(FILE, form=form)
        verify(FILE, form=form, schema=True)  # the --deep path save and restore use
    except SnaptoolError:
        pass


def main() -> None:
    corpora = [a for a in sys.argv[1:] if not a.startswith("-") and not os.path.isfile(a)]
    for corpus in corpora:
        seed_corpus(Path(corpus))
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
