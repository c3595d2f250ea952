"""The task hub's queues: control queues (partitioned by instance) and the work-item queue.

DurableTask.AzureStorage's `ControlQueue` / `WorkItemQueue`: where a message goes follows from
its type (a `TaskMessage` to its instance's control partition, an `ActivityRequest` to the work-item
queue), so nothing above this module handles queue names.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost import sdkshortcuts
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.messagedata import MessageManager, instance_of
from devhost.durabletask.azurestorage.storage import Received
from devhost.durabletask.model.messages import Outgoing, TaskMessage

log = logging.getLogger("devhost.durable")

ABANDON_MAX = 600  # seconds; TaskHubQueue.AbandonMessageAsync's maxSecondsToWait
MAX_DELAY = 6 * 86400  # seconds; longer timers are re-sent when they surface early


def abandon_delay(dequeue_count: int) -> int:
    return min(2**dequeue_count, ABANDON_MAX) if dequeue_count <= 30 else ABANDON_MAX


class TaskHubQueues:
    def __init__(
        self,
        service: QueueServiceClient,
        hub: str,
        messages: MessageManager,
        partitions: int = names.PARTITIONS,
    ) -> None:
        self.service = service
        self.messages = messages
        # storageProvider.partitionCount control queues (AzureStorageOrchestrationService.cs
        # L123: one ControlQueue per partition index).
        self.control_names = [names.control_queue(hub, p) for p in range(partitions)]
        self.workitems_name = names.workitem_queue(hub)
        self._clients: dict[str, QueueClient] = {}
        # Called after a message is sent with no delay, so a poller can receive it at once.
        self.on_sent: Callable[[str], Awaitable[None]] | None = None

    def client(self, name: str) -> QueueClient:
        found = self._clients.get(name)
        if found is None:
            found = self._clients[name] = self.service.get_queue_client(name)
        return found

    async def create(self) -> None:
        for name in [*self.control_names, self.workitems_name]:
            with contextlib.suppress(ResourceExistsError):
                await self.client(name).create_queue()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self.service.close()

    def control_for(self, instance_id: str) -> str:
        return self.control_names[names.partition_of(instance_id, len(self.control_names))]

    def destination(self, out: Outgoing) -> str:
        msg = out.message
        if isinstance(msg, TaskMessage):
            return self.control_for(msg.instance_id)
        return self.workitems_name

    async def send(self, out: Outgoing) -> None:
        queue = self.destination(out)
        text = await self.messages.encode(out.message)
        delay = math.ceil(max(0.0, min(out.delay, MAX_DELAY)))
        await sdkshortcuts.send_message(self.client(queue), text, delay or None)
        if out.delay <= 0 and self.on_sent is not None:
            await self.on_sent(queue)

    async def receive(self, queue: str, count: int, visibility: int) -> list[Received]:
        got = await sdkshortcuts.receive_messages(self.client(queue), count, visibility)
        return [Received(queue, msg, await self.messages.decode(msg.content)) for msg in got]

    async def delete(self, rec: Received) -> None:
        # Already gone: its visibility expired and another receive took and deleted it.
        with contextlib.suppress(ResourceNotFoundError):
            await sdkshortcuts.delete_message(self.client(rec.queue), rec.message)

    async def abandon(self, rec: Received) -> int:
        """Put back a message whose processing failed, hidden for 2^DequeueCount seconds up
        to 10 minutes (TaskHubQueue.AbandonMessageAsync); at the cap it is logged as poison
        and keeps coming back, as in DurableTask (nothing is deleted)."""
        count = int(rec.message.dequeue_count or 1)
        seconds = abandon_delay(count)
        if seconds == ABANDON_MAX:
            log.error(
                "Poison message detected: %s message %s on queue %s has been dequeued %d "
                "times; retrying every %d s",
                instance_of(rec.body) or "unknown instance",
                rec.message.id,
                rec.queue,
                count,
                ABANDON_MAX,
            )
        with contextlib.suppress(Exception):  # already processed and deleted elsewhere
            await self.hide(rec, seconds)
        return seconds

    async def hide(self, rec: Received, seconds: int) -> None:
        updated = await self.client(rec.queue).update_message(
            rec.message, visibility_timeout=seconds
        )
        rec.message.pop_receipt = updated.pop_receipt
