"""Every CLI table at 80 columns (issue 23 item 4): no line wider than the terminal, every
column present, instance ids shortened in the middle, names whole or shortened in the middle
(never cut mid-word over lines), only the reason wrapping."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from devhost.monitor.appview import load_app_view
from devhost.monitor.console import (
    counts_table,
    instances_table,
    restarted_table,
    skips_table,
    timeline_table,
)
from devhost.monitor.fit import Column, fitted_table, middle, widths
from devhost.monitor.index import InstanceIndex, Query, Summary

VIEW = load_app_view("imagemeta.devview")
IID = "img-" + "3f2a9c0d1e" * 3 + "ab"  # 36 characters, as BlobRef.instance_id makes them
REASON = ("StoreMetadata: configuration error, not retried: ODBC driver 'SQLite' (Driver= in "
          "SqlConnectionString) is not installed")  # fmt: skip
HEADERS = ("Instance", "Blob", "Status", "Outcome", "Reason", "Created", "Duration")


def render(renderable: object, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(renderable)
    return out.getvalue().splitlines()


def sample_index() -> InstanceIndex:
    index = InstanceIndex(VIEW)
    names = ["truncated-body.jpg", "cats/nested/deep.png", "a-much-longer-file-name-2026.jpeg"]
    for i, name in enumerate(names):
        failed = i == 0
        index.upsert(Summary(
            f"{IID[:-2]}{i:02d}", "OrchestratorFunction", "Failed" if failed else "Completed",
            1_764_650_000.0 + i, 1_764_650_002.5 + i, name, "failed" if failed else "stored",
            REASON if failed else None,
        ))  # fmt: skip
    return index


@pytest.mark.parametrize("width", [80, 100, 200])
def test_status_instances_fit_the_width_with_every_column(width: int) -> None:
    lines = render(instances_table(sample_index(), Query(), width), width)
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    header = lines[0]
    for h in HEADERS:
        assert h in header, header
    body = "\n".join(lines)
    for name in ("truncated-body.jpg", "cats/nested/deep.png"):
        assert name in body or re.search(r"\S+…\S+", body), body
    # one line per instance, apart from the failed one's wrapped reason
    rows = [line for line in lines[2:] if line.strip() and not line.startswith(" ")]
    assert len([r for r in rows if r.startswith("img-")]) == 3, body
    if width == 80:
        assert "img-3…" in body and IID[:-2] not in body, body  # the id's middle went
        assert re.search(r"\d\d-\d\d \d\d:\d\d ", body), body
    if width == 100:  # the id gives up its middle first; the names stay whole
        assert "cats/nested/deep.png" in body and IID[:-2] not in body, body
    if width == 200:
        assert IID[:-2] + "00" in body and "12-02 " in body, body  # whole ids, seconds
    # the blob names are never split across lines
    assert not any(line.rstrip().endswith(("truncat", "cats/nes")) for line in lines), body


def test_status_counts_fit_80() -> None:
    lines = render(counts_table(sample_index(), "ImageMetadataHub"))
    assert max(len(line) for line in lines) <= 80


def test_reason_is_the_only_column_that_wraps() -> None:
    lines = render(instances_table(sample_index(), Query(), 80))
    failed = next(i for i, line in enumerate(lines) if "Failed" in line)
    continuation = lines[failed + 1]
    reason_at = lines[0].index("Reason")
    assert continuation[:reason_at].strip() == "", continuation  # only the Reason cell goes on


def test_middle_keeps_both_ends() -> None:
    assert middle("abcdefghij", 10) == "abcdefghij"
    assert middle("abcdefghijk", 7) == "abc…ijk"
    assert middle("日本語のファイル名.png", 9) == "日本….png"  # 4 + 1 + 4 cells
    assert len(middle(IID, 11)) == 11


def test_widths_keep_short_columns_natural_and_give_the_reason_the_rest() -> None:
    cols = [
        Column("Instance", "id", cells=_texts(IID)),
        Column("Name", "name", cells=_texts("x" * 30)),
        Column("Status", cells=_texts("Completed")),
        Column("Reason", "reason", cells=_texts("r" * 100)),
    ]
    w = widths(cols, 80)
    assert w[2] == 9 and sum(w) + 2 * 3 <= 80
    assert w[0] >= 11 and w[1] >= 10 and w[3] >= 8
    assert widths(cols, 400) == [c.natural() for c in cols]
    lines = render(fitted_table(cols, 80))
    assert max(len(line) for line in lines) <= 80


def _texts(*values: str) -> list:  # type: ignore[type-arg]
    from rich.text import Text  # noqa: PLC0415

    return [Text(v) for v in values]


def test_restart_failed_list_fits_80() -> None:
    from devhost.recovery import Restarted  # noqa: PLC0415

    restarted = [
        Restarted(f"{IID[:-2]}{i:02d}", "OrchestratorFunction", f"folder/photo-{i}.jpg", REASON)
        for i in range(3)
    ]
    lines = render(restarted_table(restarted, "restarted", "Blob", 80))
    assert lines[0].startswith("restarted:")
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    for h in ("Instance", "Orchestration", "Blob", "Reason"):
        assert h in lines[1], lines[1]
    assert sum(1 for line in lines if line.startswith("img-3")) == 3


def test_instance_timeline_fits_80() -> None:
    failed = "Activity function 'StoreMetadata' failed: " + REASON
    events = [
        {"EventType": "ExecutionStarted", "FunctionName": "OrchestratorFunction",
         "Timestamp": "2026-01-01T00:00:00.0000000Z"},
        {"EventType": "TaskFailed", "FunctionName": "StoreMetadata",
         "ScheduledTime": "2026-01-01T00:00:00.4000000Z",
         "Timestamp": "2026-01-01T00:00:02.4000000Z", "Reason": failed, "Details": "tb"},
        {"EventType": "ExecutionFailed", "Timestamp": "2026-01-01T00:00:02.5000000Z",
         "OrchestrationStatus": "Failed"},
    ]  # fmt: skip
    lines = render(timeline_table({"historyEvents": events}, 80))
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert all(h in lines[0] for h in ("Offset", "Step", "Duration", "Result")), lines[0]
    assert any("StoreMetadata #1" in line for line in lines), "\n".join(lines)


def test_skip_counts_fit_80() -> None:
    counts = {"not a .jpg, .jpeg, .png or .gif": 12, "x" * 120: 1}
    lines = render(skips_table(counts, 80))
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert "Reason" in lines[0] and "Count" in lines[0]
    assert lines[2].startswith("not a .jpg, .jpeg, .png or .gif") and lines[2].endswith("12")
