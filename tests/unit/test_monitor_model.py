"""The monitor's pure parts: what an instance means (devhost's generic view, and the image
pipeline's app view `imagemeta.devview` loaded as devhost loads it), the index's counts,
backlog and paging, and the history timeline from the real extension's `historyEvents`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devhost.durabletask.azurestorage.names import escape_key, unescape_key
from devhost.monitor.appview import GENERIC, load_app_view
from devhost.monitor.index import InstanceIndex, Query, Summary
from devhost.monitor.payloads import parse_payload
from devhost.monitor.timeline import build_timeline, parse_time

VIEW = load_app_view("imagemeta.devview")
REF = {"container": "images-input", "name": "cats/1.png", "etag": '"0x1"'}
FAILURE = (
    "Orchestrator function 'OrchestratorFunction' failed: Activity function 'StoreMetadata' "
    "failed: TransientStoreError: database is locked \n Traceback (most recent call last):\n..."
)


def test_input_as_azure_stores_it_double_encoded_json_text() -> None:
    assert parse_payload(json.dumps(json.dumps(REF))) == REF
    assert parse_payload(json.dumps(REF)) == REF
    assert parse_payload(REF) == REF
    assert parse_payload("plain words") == "plain words"
    assert VIEW.describe("Running", json.dumps(json.dumps(REF)), None).subject == "cats/1.png"
    assert VIEW.describe("Completed", None, {"blob": "x.png", "status": "stored"}).subject == (
        "x.png"
    )


def outcome_of(status: str, output: object) -> tuple[str, str | None]:
    d = VIEW.describe(status, None, output)
    return d.outcome, d.reason


def test_outcomes_and_reasons() -> None:
    assert outcome_of("Completed", {"status": "stored"}) == ("stored", None)
    assert outcome_of("Completed", json.dumps({"status": "duplicate"})) == ("duplicate", None)
    assert outcome_of("Completed", {"status": "rejected", "reason": "not an image"}) == (
        "rejected",
        "not an image",
    )
    assert outcome_of("Failed", FAILURE) == (
        "failed",
        "StoreMetadata: TransientStoreError: database is locked",
    )
    assert outcome_of("Running", None) == ("running", None)
    line = VIEW.finish_line("OrchestratorFunction", "abc", "Failed", json.dumps(REF), FAILURE)
    assert line == (
        "Orchestration 'OrchestratorFunction' (abc) failed: blob cats/1.png: "
        "StoreMetadata: TransientStoreError: database is locked"
    )


def test_the_generic_view_knows_only_runtime_statuses() -> None:
    # devhost without an app view: any Durable app (official samples included)
    assert GENERIC.describe("Completed", json.dumps(REF), {"status": "stored"}) == (
        GENERIC.describe("Completed", None, None)
    )
    d = GENERIC.describe("Failed", None, FAILURE)
    assert (d.subject, d.outcome, d.reason) == (
        None,
        "failed",
        "StoreMetadata: TransientStoreError: database is locked",
    )
    assert GENERIC.describe("Completed", None, None).outcome == "completed"
    assert GENERIC.finish_line("Hello", "x1", "Completed", None, '"hi"') == (
        "Orchestration 'Hello' (x1) completed"
    )


def test_a_broken_app_view_never_breaks_a_listing() -> None:
    view = load_app_view("imagemeta.devview")
    broken = type(view)(name="broken", app_describe=lambda *a, **k: 1 / 0)
    d = broken.describe("Completed", None, None)
    assert d.outcome == "completed" and "app view failed" in (d.reason or "")


def test_keys_round_trip() -> None:
    for iid in ("a/b", "x^0?#\\y", "plain"):
        assert unescape_key(escape_key(iid)) == iid
    assert escape_key("a/b^") == "a^0b^^"


def _summary(i: int, status: str, output: object, created: float, updated: float) -> Summary:
    return Summary.build(
        view=VIEW,
        instance_id=f"id{i}",
        name="Orch",
        status=status,
        created=created,
        updated=updated,
        input_value={"name": f"n{i}.png"},
        output_value=output,
    )


def test_index_counts_backlog_and_paging() -> None:
    index = InstanceIndex(VIEW)
    now = 10_000.0
    for i in range(10):  # an old, finished batch
        index.upsert(_summary(i, "Completed", {"status": "stored"}, 100 + i, 101 + i))
    for i in range(10, 40):  # the current batch, created 50 s ago: 20 done, 10 running
        done = i < 30
        status = "Completed" if done else "Running"
        out = {"status": "rejected", "reason": "bad"} if i % 10 == 0 else {"status": "stored"}
        index.upsert(_summary(i, status, out if done else None, now - 50, now - 40 + i))
    view = index.overview(now)
    assert view["total"] == 40
    assert view["byStatus"] == {"Completed": 30, "Running": 10}
    assert view["byOutcome"]["rejected"] == 2 and view["byOutcome"]["running"] == 10
    b = view["backlog"]
    assert (b["total"], b["done"], b["active"]) == (30, 20, 10)
    # Rate over the 50 s the batch has been active (not a fixed minute): 20 done / 50 s.
    assert abs(b["rate"] - 20 / 50) < 0.01 and abs(b["etaSeconds"] - 25) < 1
    page = index.select(Query(outcomes=frozenset({"rejected"})), now)
    assert page["total"] == 2 and {i["subject"] for i in page["items"]} == {"n10.png", "n20.png"}
    page = index.select(Query(text="N3", sort="subject", descending=False, size=5, page=1), now)
    assert page["total"] == 11 and [i["subject"] for i in page["items"]] == [
        f"n{i}.png" for i in (34, 35, 36, 37, 38)
    ]


def test_timeline_from_the_extension_history_shape() -> None:
    # What HttpApiHandler/DurableClient serve: string EventTypes, TaskScheduled merged.
    status = {
        "historyEvents": [
            {"EventType": "ExecutionStarted", "FunctionName": "Orch",
             "Timestamp": "2026-01-01T00:00:00.0000000Z"},
            {"EventType": "TaskCompleted", "FunctionName": "ExtractMetadata",
             "ScheduledTime": "2026-01-01T00:00:00.1000000Z",
             "Timestamp": "2026-01-01T00:00:00.3000000Z", "Result": '{"rejected": false}'},
            {"EventType": "TaskFailed", "FunctionName": "StoreMetadata",
             "ScheduledTime": "2026-01-01T00:00:00.4000000Z",
             "Timestamp": "2026-01-01T00:00:02.4000000Z",
             "Reason": "Activity function 'StoreMetadata' failed: locked", "Details": "tb"},
            {"EventType": "TimerCreated", "FireAt": "2026-01-01T00:00:07.4000000Z",
             "Timestamp": "2026-01-01T00:00:02.4000000Z"},
            {"EventType": "TimerFired", "FireAt": "2026-01-01T00:00:07.4000000Z",
             "Timestamp": "2026-01-01T00:00:07.5000000Z"},
            {"EventType": "TaskCompleted", "FunctionName": "StoreMetadata",
             "ScheduledTime": "2026-01-01T00:00:07.6000000Z",
             "Timestamp": "2026-01-01T00:00:07.7000000Z", "Result": '"stored"'},
            {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Completed",
             "Timestamp": "2026-01-01T00:00:07.8000000Z"},
        ]
    }  # fmt: skip
    t = build_timeline(status)
    kinds = [(e["kind"], e["label"], e.get("attempt")) for e in t["entries"]]
    assert kinds == [
        ("start", "Started Orch", None),
        ("activity", "ExtractMetadata", 1),
        ("activity", "StoreMetadata", 1),
        ("timer", "retry delay", None),
        ("activity", "StoreMetadata", 2),
        ("end", "Completed", None),
    ]
    store1 = t["entries"][2]
    assert store1["ok"] is False and store1["durationMs"] == 2000 and store1["details"] == "tb"
    assert t["entries"][3]["durationMs"] == 5000
    assert t["entries"][4]["result"] == "stored"
    assert t["spanMs"] == 7800
    assert parse_time("2026-01-01T00:00:00.1234567Z") == parse_time("2026-01-01T00:00:00.123456Z")


def _failed_with_retries(last_fire_at: str) -> dict[str, Any]:
    """Two failed attempts of StoreMetadata, then the timer the runtime's retry loop creates
    after the last one (DurableTask.Core RetryInterceptor.cs; devhost fires it at once, as
    devhost/durabletask/core/decisions.py's retry_followups ports it), then the failure."""
    return {
        "historyEvents": [
            {"EventType": "ExecutionStarted", "FunctionName": "Orch",
             "Timestamp": "2026-01-01T00:00:00.0000000Z"},
            {"EventType": "TaskFailed", "FunctionName": "StoreMetadata",
             "ScheduledTime": "2026-01-01T00:00:00.1000000Z",
             "Timestamp": "2026-01-01T00:00:00.2000000Z", "Reason": "locked", "Details": ""},
            {"EventType": "TimerCreated", "FireAt": "2026-01-01T00:00:05.2000000Z",
             "Timestamp": "2026-01-01T00:00:00.2000000Z"},
            {"EventType": "TimerFired", "FireAt": "2026-01-01T00:00:05.2000000Z",
             "Timestamp": "2026-01-01T00:00:05.3000000Z"},
            {"EventType": "TaskFailed", "FunctionName": "StoreMetadata",
             "ScheduledTime": "2026-01-01T00:00:05.4000000Z",
             "Timestamp": "2026-01-01T00:00:05.5000000Z", "Reason": "locked", "Details": ""},
            {"EventType": "TimerCreated", "FireAt": last_fire_at,
             "Timestamp": "2026-01-01T00:00:05.5000000Z"},
            {"EventType": "TimerFired", "FireAt": last_fire_at,
             "Timestamp": "2026-01-01T00:00:05.6000000Z"},
            {"EventType": "ExecutionFailed", "OrchestrationStatus": "Failed",
             "Timestamp": "2026-01-01T00:00:05.7000000Z"},
        ]
    }  # fmt: skip


def test_the_timer_after_the_last_attempt_is_not_shown_as_a_zero_wait() -> None:
    t = build_timeline(_failed_with_retries("2026-01-01T00:00:05.5000000Z"))
    kinds = [(e["kind"], e["label"], e["durationMs"]) for e in t["entries"]]
    assert kinds == [
        ("start", "Started Orch", 0),
        ("activity", "StoreMetadata", 100),
        ("timer", "retry delay", 5000),
        ("activity", "StoreMetadata", 100),
        ("exhausted", "StoreMetadata: no retry left after 2 attempts", None),
        ("end", "Failed", 0),
    ]
    assert t["entries"][4]["startOffset"] == 5500  # where it happened, after the last attempt


def test_a_real_wait_after_the_last_attempt_stays_a_wait() -> None:
    # An older RetryInterceptor waited the full delay before giving up: that is shown as it was.
    t = build_timeline(_failed_with_retries("2026-01-01T00:00:10.5000000Z"))
    assert [(e["kind"], e["durationMs"]) for e in t["entries"]][4] == ("timer", 5000)


def test_a_zero_timer_between_attempts_is_a_point_not_a_wait() -> None:
    status = _failed_with_retries("2026-01-01T00:00:05.5000000Z")
    events = status["historyEvents"]
    events[2]["FireAt"] = events[3]["FireAt"] = events[2]["Timestamp"]  # first delay zero
    t = build_timeline(status)
    assert [(e["kind"], e["label"]) for e in t["entries"]][2] == ("point", "timer fired at once")


def test_an_app_view_without_paging_serves_one_page(monkeypatch: Any) -> None:
    import asyncio  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import types  # noqa: PLC0415

    from devhost.monitor.api import DurableApi  # noqa: PLC0415
    from devhost.monitor.sources import ApiSource  # noqa: PLC0415

    old = types.ModuleType("old_rows_view")
    old.rows = lambda conn, limit, name: {"total": 1, "rows": [{"n": limit}]}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "old_rows_view", old)
    view = load_app_view("old_rows_view")
    assert VIEW.rows_page and not view.rows_page
    source = ApiSource(DurableApi("http://127.0.0.1:9"), "t", view, rows_connection="x")
    assert asyncio.run(source.rows(5)) == {"total": 1, "rows": [{"n": 5}]}
    with pytest.raises(ValueError, match="no further pages"):
        asyncio.run(source.rows(5, None, "7"))


def test_the_app_view_says_which_blobs_its_trigger_skips() -> None:
    # BlobTriggerClient's own rule (imagemeta.blobref.is_supported_name), through the view.
    assert VIEW.skip_reason("BlobTriggerClient", "notes.txt") == "not a .jpg, .jpeg, .png or .gif"
    assert VIEW.skip_reason("BlobTriggerClient", "cats/1.PNG") is None
    assert VIEW.skip_reason("OtherTrigger", "notes.txt") is None  # another function's business
    assert GENERIC.skip_reason("BlobTriggerClient", "notes.txt") is None  # no app view: no say
    broken = type(VIEW)(name="broken", app_skipped=lambda f, n: 1 / 0)
    assert (broken.skip_reason("F", "x") or "").startswith("app view failed: ")
    multi = type(VIEW)(name="multi", app_skipped=lambda f, n: "line one\nline two")
    assert multi.skip_reason("F", "x") == "line one"
