"""``verify --target VERSION`` against what that real Nomad does.

For each Nomad built by tests/harness (1.4.3 and 1.6.1) and each archive of
the corpus, ``nomad operator snapshot state FILE`` runs Nomad's own archive
reader and full FSM restore (exit 0: restored). snaptool's verdict for that
version must be the same.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from snaptool.checks import Target
from snaptool.commands import verify
from snaptool.format.records import parse_version

from .conftest import CASES, FIXTURES

CACHE = Path(os.environ.get("SNAPTOOL_CACHE", Path.home() / ".cache" / "snaptool"))
VERSIONS = ["v1.4.3", "v1.6.1"]

ARCHIVES = sorted(
    [*FIXTURES.glob("genuine/*.snap"), *FIXTURES.glob("synthetic/*.snap"), *FIXTURES.glob("recipes/out/*.snap")]
) + sorted(CASES.glob("ok-*.snap")) + [CASES / n for n in ("bad-unknown-type-99.snap", "bad-enterprise-type-66.snap")]


def _nomad(version: str) -> Path:
    return CACHE / "nomad" / version / "nomad"


@pytest.mark.nomad
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("archive", [a for a in ARCHIVES if a.exists()], ids=lambda p: p.name)
def test_target_verdict_is_nomads(version: str, archive: Path, tmp_path: Path) -> None:
    binary = _nomad(version)
    if not binary.exists():
        pytest.skip(f"no Nomad {version} at {binary} (build it with tests/harness/build_nomad.sh {version})")
    run = subprocess.run(
        [str(binary), "operator", "snapshot", "state", str(archive)],
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "NOMAD_ADDR": "http://127.0.0.1:1"},  # never a server: it is offline
    )
    nomad_restores = run.returncode == 0
    report = verify(archive, target=Target(parse_version(version), "ce"), schema=True)
    assert report.ok == nomad_restores, (
        run.stderr.decode(errors="replace")[-300:],
        [f.to_dict() for f in report.findings if f.severity in ("reject", "restore")],
    )
