"""checkov over infra/: no parse errors, no unsuppressed failures, every suppression explained."""

from __future__ import annotations

import pytest

from scripts.check_infra import run_checkov

pytestmark = pytest.mark.infra


def test_checkov_passes_with_only_explained_suppressions() -> None:
    report = run_checkov()  # installs checkov into .venv-checkov on first use
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a template"
    assert summary["resource_count"] > 0
    failed = [
        f"{c['check_id']} {c['resource']}" for c in report["results"].get("failed_checks", [])
    ]
    assert failed == []
    assert summary["passed"] > 0
    for c in report["results"].get("skipped_checks", []):
        reason = (c.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{c['check_id']} suppressed without a reason"
