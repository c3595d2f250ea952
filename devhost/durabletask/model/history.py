"""History events in the SDK's JSON shape, and their table-row form.

In memory an event is the dict the SDK reads (EventType as int, EventId, IsPlayed, Timestamp
plus per-type fields: DurableTask.Core.History's *Event classes, flattened into one TypedDict).
devhost adds a few bookkeeping fields (retry policy, action index, message id) that the SDK
ignores and the HTTP API never shows (`PUBLIC_FIELDS` is an allow-list); rows store EventType by
name as DurableTask does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Required, TypedDict, cast


class Event(TypedDict, total=False):
    """One history event (DurableTask.Core.History.HistoryEvent and its subclasses' fields)."""

    EventType: Required[int]
    EventId: int
    IsPlayed: bool
    Timestamp: str
    Name: str | None
    Version: str
    Input: Any
    Result: Any
    Reason: str
    Details: str
    TaskScheduledId: int
    TimerId: int
    FireAt: str
    InstanceId: str
    OrchestrationStatus: str
    ParentInstanceId: str | None
    FailureDetails: Any
    Data: str | None  # GenericEvent
    # devhost's bookkeeping: never serialised by the HTTP API (not in PUBLIC_FIELDS)
    RetryMax: int
    RetryIntervalMs: int
    Attempt: int
    RetryOf: int
    RetryFor: int
    ActionIndex: int
    MessageId: str
    ContinuedFrom: str  # ExecutionStarted of a ContinueAsNew: the execution it replaces
    Consumed: str  # ... and the message ids (comma-separated) that execution's work item took
    InputBlobName: str
    ResultBlobName: str


# What DurableTask.Core's history events carry, i.e. what the status API may show.
PUBLIC_FIELDS = frozenset(
    {
        "EventType", "EventId", "Timestamp", "Name", "Version", "Input", "Result", "Reason",
        "Details", "TaskScheduledId", "TimerId", "FireAt", "InstanceId", "OrchestrationStatus",
        "ParentInstanceId", "FailureDetails", "Data",
    }
)  # fmt: skip


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
    return as_event(
        {
            "EventType": int(kind),
            "EventId": event_id,
            "IsPlayed": False,
            "Timestamp": fields.pop("Timestamp", None) or iso(utcnow()),
            **{k: v for k, v in fields.items() if v is not None},
        }
    )


def as_event(data: dict[str, Any]) -> Event:
    """A dict read from outside (a queue body, a table row) taken as an event once its
    EventType is known to be an int (the callers check)."""
    return cast(Event, data)


_ROW_SKIP = {"EventType", "Timestamp"}


def to_row(ev: Event) -> dict[str, Any]:
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


def from_row(row: dict[str, Any]) -> Event:
    ev = {k: v for k, v in row.items() if k not in _ROW_DROP and not k.startswith("odata")}
    ev["EventType"] = int(EventType[str(row["EventType"])])
    ts = row.get("_Timestamp")
    ev["Timestamp"] = iso(ts) if isinstance(ts, datetime) else str(ts or iso(utcnow()))
    return as_event(ev)


def public_event(ev: Event) -> dict[str, Any]:
    """The status API's history entry: string EventType, only DurableTask.Core's own fields
    (an allow-list: a bookkeeping field added later stays out of the API by default)."""
    out: dict[str, Any] = {k: v for k, v in ev.items() if k in PUBLIC_FIELDS}
    out["EventType"] = EventType(ev["EventType"]).name
    return out
