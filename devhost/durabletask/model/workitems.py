"""What crosses the work-item boundary between the core's dispatchers and a backend.

DurableTask.Core's `IOrchestrationService` hands the dispatcher a `TaskOrchestrationWorkItem`
(instance id, new messages, runtime state) and takes back the new state plus the messages the
episode produced; a `TaskActivityWorkItem` carries one activity request. These are the same
values here; `token` is the backend's own handle for what it must delete, hide or renew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devhost.durabletask.model.history import Event
from devhost.durabletask.model.messages import ActivityRequest, Outgoing, TaskMessage
from devhost.durabletask.model.state import Instance


@dataclass
class Checkpoint:
    """What one call of the executor decided: the instance's new state, the messages to send
    and the instances to start (sub-orchestrations, or this id again for continue-as-new)."""

    state: Instance | None = None
    messages: list[Outgoing] = field(default_factory=list)
    starts: list[Instance] = field(default_factory=list)


@dataclass
class PendingBatch:
    """One instance's messages from one receive, not yet locked (`received` are the backend's
    receipts, opaque to the core)."""

    instance_id: str
    received: list[Any]


def batch_size(batches: list[PendingBatch]) -> int:
    return sum(len(b.received) for b in batches)


@dataclass
class OrchestrationWorkItem:
    """One instance's admitted messages, locked for one episode."""

    instance_id: str
    state: Instance | None  # None: no such instance (its messages are dropped)
    new_events: list[Event]  # admitted, in arrival order, each stamped with its MessageId
    token: object = None  # the backend's: consumed, deferred and early messages


@dataclass
class ActivityWorkItem:
    request: ActivityRequest
    token: object = None

    def response(self, ev: Event) -> TaskMessage:
        """The completion message for the orchestration that asked (TaskActivityDispatcher)."""
        return TaskMessage(self.request.instance_id, self.request.execution_id, ev)
