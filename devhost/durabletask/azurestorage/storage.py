"""The storage primitives the AzureStorage provider's logic runs on, as protocols.

`AzureTableTrackingStore` (tracking.py) and the task hub's queues (queues.py) implement them on
Azure Storage; devhost.durabletask.memory implements them in memory, so the provider's
checkpoint order, crash repair and client operations are unit-tested without Azurite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from azure.storage.queue import QueueMessage

from devhost.durabletask.model.history import Event
from devhost.durabletask.model.messages import Outgoing

Row = dict[str, Any]


@dataclass
class Received:
    """A message taken from a queue: its queue, the service's receipt and the decoded body."""

    queue: str
    message: QueueMessage
    body: dict[str, Any]


class Tracking(Protocol):
    async def create(self) -> None: ...
    async def close(self) -> None: ...
    async def read_instance(
        self, instance_id: str, select: list[str] | None = None
    ) -> Row | None: ...
    async def write_instance(self, instance_id: str, fields: Row) -> None: ...
    async def update_instance(self, instance_id: str, fields: Row) -> None: ...
    async def insert_instance(self, instance_id: str, fields: Row) -> bool: ...
    async def delete_instance(self, instance_id: str) -> None: ...
    async def query_instances(
        self,
        query: str | None,
        top: int,
        token: str | None,
        select: list[str] | None = None,
        *,
        reload: bool = True,
    ) -> tuple[list[Row], str | None]: ...
    async def load_large(self, row: Row) -> Row: ...
    async def delete_large_messages(self, instance_id: str) -> int: ...
    async def read_history(self, instance_id: str) -> tuple[str | None, list[Event]]: ...
    async def append_history(
        self, instance_id: str, execution_id: str, start: int, events: Iterable[Event]
    ) -> None: ...
    async def replace_history(
        self, instance_id: str, execution_id: str, events: list[Event]
    ) -> None: ...
    async def delete_history(self, instance_id: str) -> int: ...


class Queues(Protocol):
    control_names: list[str]
    workitems_name: str
    on_sent: Callable[[str], Awaitable[None]] | None

    async def create(self) -> None: ...
    async def close(self) -> None: ...
    def control_for(self, instance_id: str) -> str: ...
    async def send(self, out: Outgoing) -> None: ...
    async def receive(self, queue: str, count: int, visibility: int) -> list[Received]: ...
    async def delete(self, rec: Received) -> None: ...
    async def abandon(self, rec: Received) -> int: ...
    async def hide(self, rec: Received, seconds: int) -> None: ...
