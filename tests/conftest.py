"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
GENUINE = FIXTURES / "genuine"
SHARED = Path(os.environ.get("SNAPTOOL_SHARED", REPO.parent / "shared"))
CASES = SHARED / "cases"
CORPUS_REAL = SHARED / "corpus" / "real"

needs_shared = pytest.mark.skipif(
    not CASES.is_dir(),
    reason=f"the shared test data is not at {SHARED} (set SNAPTOOL_SHARED)",
)


def case_expectations() -> dict[str, dict]:
    if not CASES.is_dir():
        return {}
    return json.loads((CASES / "expected.json").read_text())


def genuine_fixtures() -> list[Path]:
    return sorted(GENUINE.glob("*.snap"))
