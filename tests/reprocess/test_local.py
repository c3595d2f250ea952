"""Reprocess against devhost + Azurite + SQLite, as an operator runs it (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reprocess.conftest import REJECTED, App, assert_exact_rows

pytestmark = pytest.mark.e2e


def _inputs(app: App) -> dict[str, str]:
    """Instance id -> the input exactly as the HTTP API returns it (text, not decoded)."""
    return {iid: json.dumps(i.get("input")) for iid, i in app.instances().items()}


def test_dry_run_changes_nothing(app: App, tmp_path: Path) -> None:
    app.empty_database(tmp_path)
    before = app.instances()

    result = app.reprocess("--dry-run")

    assert result.code == 0, result.stderr
    s = result.summary
    assert (s["wouldStart"], s["started"], s["rejectedEarlier"]) == (len(app.images), 0, 2)
    assert "dry run: nothing started" in result.stdout
    assert "a/000.png" in result.stdout and f"and {len(app.images) - 10} more" in result.stdout
    assert app.row_count() == 0
    assert app.instances() == before  # not one instance started, restarted or touched


def test_empty_database_reprocessed_to_exact_rows_then_nothing_new(
    app: App, tmp_path: Path
) -> None:
    app.empty_database(tmp_path)
    trigger_inputs = _inputs(app)

    first = app.reprocess()

    assert first.code == 0, first.stdout + first.stderr
    s = first.summary
    assert s["comparedWith"] == "ImageMetadata"
    assert (s["started"], s["stored"], s["failed"], s["errors"]) == (300, 300, 0, 0)
    assert (s["selected"], s["rejectedEarlier"], s["unfinished"]) == (302, 2, 0)
    assert_exact_rows(app)
    # The same instance ids and byte-identical inputs as the blob trigger gave them.
    assert _inputs(app) == trigger_inputs

    again = app.reprocess()

    assert again.code == 0, again.stderr
    s = again.summary
    assert (s["started"], s["joined"], s["alreadyStored"], s["rejectedEarlier"]) == (0, 0, 300, 2)
    assert_exact_rows(app)
    assert set(REJECTED) <= set(app.etags)
