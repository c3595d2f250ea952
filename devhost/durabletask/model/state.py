"""One orchestration instance as the engine sees it: its row plus its current history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devhost.durabletask.model.history import COMPLETIONS, SCHEDULING, Event, EventType, utcnow
from devhost.durabletask.model.status import ACTIVE, TERMINAL, RuntimeStatus

__all__ = ["ACTIVE", "TERMINAL", "Instance", "completion_key"]


@dataclass
class Instance:
    instance_id: str
    name: str
    execution_id: str
    status: RuntimeStatus = RuntimeStatus.Pending
    input: str | None = None  # JSON text
    output: str | None = None  # JSON text
    custom_status: str | None = None  # JSON text
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    completed: datetime | None = None
    parent: dict[str, Any] | None = None  # instanceId, executionId, taskScheduledId
    history: list[Event] = field(default_factory=list)
    persisted: int = 0  # history events already written to the table

    @property
    def next_id(self) -> int:
        """Next task id, allocated in the SDK's order: every scheduling event took one."""
        return sum(1 for e in self.history if e["EventType"] in SCHEDULING)

    @property
    def action_count(self) -> int:
        """Scheduling events made from the orchestrator's actions (not from retries)."""
        return sum(1 for e in self.history if "ActionIndex" in e)

    def scheduled(self, event_id: int) -> Event | None:
        for e in self.history:
            if e["EventType"] in SCHEDULING and e["EventId"] == event_id:
                return e
        return None

    def open_tasks(self) -> int:
        """Activities, sub-orchestrations and timers scheduled and not yet completed: how many
        completions the instance can still receive."""
        return max(0, self.next_id - len(self.completed_keys()))

    def completed_keys(self) -> set[tuple[str, int]]:
        """("task"|"timer", id) of every completion already in history (for de-duplication)."""
        out: set[tuple[str, int]] = set()
        for e in self.history:
            key = completion_key(e)
            if key is not None:
                out.add(key)
        return out

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "Name": self.name,
            "Version": "",
            "ExecutionId": self.execution_id,
            "RuntimeStatus": self.status,
            "CreatedTime": self.created,
            "LastUpdatedTime": self.updated,
            "Input": self.input,
            "Output": self.output,
            "CustomStatus": self.custom_status,
        }
        if self.completed is not None:
            row["CompletedTime"] = self.completed
        if self.parent:
            row["ParentInstanceId"] = self.parent["instanceId"]
            row["ParentExecutionId"] = self.parent["executionId"]
            row["ParentTaskScheduledId"] = self.parent["taskScheduledId"]
        return {k: v for k, v in row.items() if v is not None}

    @classmethod
    def from_row(cls, instance_id: str, row: dict[str, Any]) -> Instance:
        parent = None
        if row.get("ParentInstanceId"):
            parent = {
                "instanceId": row["ParentInstanceId"],
                "executionId": row.get("ParentExecutionId"),
                "taskScheduledId": row.get("ParentTaskScheduledId"),
            }
        return cls(
            instance_id=instance_id,
            name=str(row.get("Name", "")),
            execution_id=str(row.get("ExecutionId", "")),
            status=RuntimeStatus(str(row.get("RuntimeStatus", "Pending"))),
            input=row.get("Input"),
            output=row.get("Output"),
            custom_status=row.get("CustomStatus"),
            created=row.get("CreatedTime") or utcnow(),
            updated=row.get("LastUpdatedTime") or utcnow(),
            completed=row.get("CompletedTime"),
            parent=parent,
        )


def completion_key(ev: Event) -> tuple[str, int] | None:
    kind = EventType(ev["EventType"])
    field_name = COMPLETIONS.get(kind)
    if field_name is None:
        return None
    value = ev.get("TimerId", -1) if kind is EventType.TimerFired else ev.get("TaskScheduledId", -1)
    return ("timer" if kind is EventType.TimerFired else "task", int(value))
