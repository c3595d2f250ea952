"""The two kinds of message a task hub carries, as DurableTask.Core's `TaskMessage` does.

A `TaskMessage` carries one history event to an orchestration instance; an `ActivityRequest`
asks for one activity run (on the wire it is a TaskMessage holding a TaskScheduledEvent, as in
DurableTask). How a backend encodes them (DurableTask.AzureStorage's MessageData JSON) is the
backend's business: these are plain values the core and every backend share.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from devhost.durabletask.model.history import Event, EventType, event
from devhost.durabletask.model.state import Instance


def new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TaskMessage:
    """One history event for one orchestration instance (control queue)."""

    instance_id: str
    execution_id: str | None
    event: Event
    id: str = field(default_factory=new_message_id)


@dataclass(frozen=True)
class ActivityRequest:
    """One activity run requested by an orchestration (work-item queue)."""

    instance_id: str
    execution_id: str
    name: str
    input: str | None
    task_scheduled_id: int
    id: str = field(default_factory=new_message_id)

    @property
    def event(self) -> Event:
        return event(
            EventType.TaskScheduled,
            self.task_scheduled_id,
            Name=self.name,
            Version="",
            Input=self.input,
        )


Message = TaskMessage | ActivityRequest


@dataclass(frozen=True)
class Outgoing:
    """A message to send at the next checkpoint, visible after `delay` seconds."""

    message: Message
    delay: float = 0.0


def execution_started(inst: Instance, timestamp: str | None = None) -> Outgoing:
    """The message that starts (or restarts, or continues-as-new) an execution."""
    ev = event(
        EventType.ExecutionStarted,
        Name=inst.name,
        Input=inst.input,
        Version="",
        ParentInstanceId=(inst.parent or {}).get("instanceId"),
        Timestamp=timestamp,
    )
    return Outgoing(TaskMessage(inst.instance_id, inst.execution_id, ev))
