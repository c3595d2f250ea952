"""bench/hubsize.py's goal lines: issue 21's "pipeline at a 20,000-instance hub >= 60% of its
empty-hub rate", from the rows of one run (no storage: the rows are the section's output)."""

from __future__ import annotations

from bench.hubsize import goals


def test_the_goal_is_judged_against_the_same_runs_empty_hub() -> None:
    rows = [
        {"existing": 0, "images_per_s": 13.7},
        {"existing": 5000, "images_per_s": 14.3},
        {"existing": 20000, "images_per_s": 12.4},
    ]
    assert goals(rows) == [
        "5,000-instance hub at 104% of the empty hub's rate",
        "20,000-instance hub ≥ 60% of the empty hub's rate: 91% (met)",
    ]
    rows[2]["images_per_s"] = 8.0
    assert goals(rows)[-1] == "20,000-instance hub ≥ 60% of the empty hub's rate: 58% (NOT met)"


def test_no_empty_hub_no_goal() -> None:
    assert goals([{"existing": 20000, "images_per_s": 12.0}]) == []
    assert goals([{"existing": 0, "images_per_s": 0.0}, {"existing": 5, "images_per_s": 1}]) == []
