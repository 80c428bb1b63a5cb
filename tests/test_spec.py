"""The spec's tables are the code's tables."""

from __future__ import annotations

from snaptool.spectables import findings_table, records_table

from .conftest import REPO


def test_record_table_matches_registry() -> None:
    assert records_table() in (REPO / "spec" / "README.md").read_text()


def test_findings_table_matches_codes() -> None:
    assert findings_table() in (REPO / "spec" / "README.md").read_text()
