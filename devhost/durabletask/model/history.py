"""History events in the SDK's JSON shape, and their table-row form.

In memory an event is the dict the SDK reads (EventType as int, EventId, IsPlayed, Timestamp
plus per-type fields). devhost adds a few bookkeeping fields (retry policy, action index,
message id) that the SDK ignores; rows store EventType by name as DurableTask does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]  # one history event in the SDK's JSON shape


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


COMPLETIONS = {
    EventType.TaskCompleted: "TaskScheduledId",
    EventType.TaskFailed: "TaskScheduledId",
    EventType.SubOrchestrationInstanceCompleted: "TaskScheduledId",
    EventType.SubOrchestrationInstanceFailed: "TaskScheduledId",
    EventType.TimerFired: "TimerId",
}
FAILURES = {EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed}
SCHEDULING = {
    EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCreated,
    EventType.TimerCreated,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def event(kind: EventType, event_id: int = -1, **fields: Any) -> Event:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": fields.pop("Timestamp", None) or iso(utcnow()),
        **{k: v for k, v in fields.items() if v is not None},
    }


_ROW_SKIP = {"EventType", "Timestamp"}


def to_row(ev: dict[str, Any]) -> dict[str, Any]:
    """Row columns (without keys): EventType by name, _Timestamp as a datetime."""
    row = {
        k: json.dumps(v) if isinstance(v, dict | list) else v
        for k, v in ev.items()
        if k not in _ROW_SKIP
    }
    row["EventType"] = EventType(ev["EventType"]).name
    row["_Timestamp"] = parse_iso(ev["Timestamp"])
    return row


_ROW_DROP = {"PartitionKey", "RowKey", "_Timestamp", "EventType", "ExecutionId"}


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    ev = {k: v for k, v in row.items() if k not in _ROW_DROP and not k.startswith("odata")}
    ev["EventType"] = int(EventType[str(row["EventType"])])
    ts = row.get("_Timestamp")
    ev["Timestamp"] = iso(ts) if isinstance(ts, datetime) else str(ts or iso(utcnow()))
    return ev


def public_event(ev: dict[str, Any]) -> dict[str, Any]:
    """The status API's history entry: string EventType, no devhost bookkeeping."""
    out = {k: v for k, v in ev.items() if not k.startswith("_") and k not in _PRIVATE}
    out["EventType"] = EventType(ev["EventType"]).name
    return out


_PRIVATE = {
    "RetryMax",
    "RetryIntervalMs",
    "Attempt",
    "RetryOf",
    "RetryFor",
    "ActionIndex",
    "MessageId",
    "IsPlayed",
    "InputBlobName",
    "ResultBlobName",
}
