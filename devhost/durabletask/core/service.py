"""The work-item boundary (DurableTask.Core's `IOrchestrationService`, the part dispatchers use).

The dispatchers fetch work, lock it, run it and hand back the result; a backend decides how
messages are stored, admitted and checkpointed. devhost.durabletask.azurestorage's
`TaskHubService` is the one backend, over Azure Storage or (for unit tests) over the in-memory
primitives in devhost.durabletask.memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from devhost.durabletask.model.history import Event
from devhost.durabletask.model.messages import TaskMessage
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.workitems import (
    ActivityWorkItem,
    Checkpoint,
    OrchestrationWorkItem,
    PendingBatch,
)


class OrchestrationService(Protocol):
    """Receiving fills the backend's per-instance buffer (bounded: `has_buffer_room`); each
    batch taken from it holds everything buffered for one instance (LockNextTaskOrchestration-
    WorkItemAsync), and the instance gets no other batch until this one is completed or
    abandoned."""

    def has_buffer_room(self) -> bool: ...
    async def wait_for_buffer_room(self, timeout: float) -> None: ...
    async def fetch_orchestration_messages(self, queue: str, count: int) -> Sequence[object]: ...
    def take_orchestration_batch(self) -> PendingBatch | None: ...
    async def next_orchestration_batch(self) -> PendingBatch: ...
    async def lock_orchestration_work_item(self, batch: PendingBatch) -> OrchestrationWorkItem: ...
    async def complete_orchestration_work_item(
        self, item: OrchestrationWorkItem, cp: Checkpoint | None
    ) -> None: ...
    async def abandon_orchestration_work_item(self, item: OrchestrationWorkItem) -> None: ...
    async def abandon_batch(self, batch: PendingBatch) -> None: ...


class ActivityService(Protocol):
    async def fetch_activity_work_items(self, count: int) -> list[ActivityWorkItem]: ...
    async def renew_activity_work_item(self, item: ActivityWorkItem) -> None: ...
    async def complete_activity_work_item(
        self, item: ActivityWorkItem, response: TaskMessage
    ) -> None: ...
    async def abandon_activity_work_item(self, item: ActivityWorkItem) -> None: ...


Row = dict[str, Any]  # an instance row as the backend stores it (query pages)


class OrchestrationServiceClient(Protocol):
    """The client half (`IOrchestrationServiceClient`): what the task hub client needs."""

    async def start_new(
        self, name: str, instance_id: str | None, input_text: str | None
    ) -> str: ...
    async def read(
        self, instance_id: str, history: bool = False, show_input: bool = True
    ) -> Instance | None: ...
    async def send_event(self, instance_id: str, ev: Event) -> None: ...
    async def rewind(self, instance_id: str, reason: str | None) -> None: ...
    async def purge(self, instance_id: str) -> int: ...
    async def purge_where(self, query: str | None, limit: int | None = None) -> int: ...
    async def query(
        self, query: str | None, top: int, token: str | None, show_input: bool = True
    ) -> tuple[list[Row], str | None]: ...
    async def load_row(self, row: Row) -> Instance: ...
