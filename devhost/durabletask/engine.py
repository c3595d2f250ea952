"""The durable engine's façade (DurableTask.AzureStorage's `AzureStorageOrchestrationService`).

It owns the storage clients and wires the parts: `tracking` (instance + history tables),
`queues` + `messages` (control / work-item queues, large payloads), `sessions` (per-instance
locks and cache), `replay` (episodes, no I/O), the control-queue and work-item dispatchers, and
the client operations the HTTP API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import client_kwargs
from devhost.contracts import FunctionRunner
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.messagedata import MessageManager
from devhost.durabletask.azurestorage.partitions import ensure_taskhub_info
from devhost.durabletask.azurestorage.queues import TaskHubQueues
from devhost.durabletask.azurestorage.sessions import SessionManager
from devhost.durabletask.azurestorage.tracking import Row, TrackingStore
from devhost.durabletask.core.activity_dispatcher import ActivityDispatcher
from devhost.durabletask.core.executor import Replayer
from devhost.durabletask.core.orchestration_dispatcher import OrchestrationDispatcher
from devhost.durabletask.core.taskhub_client import (
    DurableClient,
    OrchestrationConflict,
    UnknownOrchestrator,
)
from devhost.durabletask.model.history import Event
from devhost.durabletask.model.state import Instance
from devhost.queuepump import BackoffPoller

__all__ = ["DurableEngine", "OrchestrationConflict", "UnknownOrchestrator"]


class DurableEngine:
    def __init__(
        self,
        connection_string: str,
        hub_name: str,
        runner: FunctionRunner,
        *,
        poll_interval: float = 1.0,
        activity_concurrency: int = 8,
        control_visibility: int = 30,
        activity_visibility: int = 60,
    ) -> None:
        self.hub = hub_name
        self.runner = runner
        self.poll_interval = poll_interval
        opts = client_kwargs(connection_string)
        blobs = BlobServiceClient.from_connection_string(connection_string, **opts)
        self._blobs = blobs
        self.messages = MessageManager(
            blobs.get_container_client(names.largemessages_container(hub_name))
        )
        self.tracking = TrackingStore(
            TableServiceClient.from_connection_string(connection_string, **opts),
            hub_name,
            self.messages,
        )
        self.queues = TaskHubQueues(
            QueueServiceClient.from_connection_string(connection_string, **opts),
            hub_name,
            self.messages,
        )
        self.queues.on_sent = self._on_sent
        self.sessions = SessionManager()
        self.client = DurableClient(self.tracking, self.queues, self.sessions, runner)
        self.orchestrations = OrchestrationDispatcher(
            self.tracking,
            self.queues,
            self.sessions,
            Replayer(runner.run_orchestrator),
            visibility=control_visibility,
        )
        self.activities = ActivityDispatcher(
            self.queues, runner, concurrency=activity_concurrency, visibility=activity_visibility
        )
        self._pollers: dict[str, BackoffPoller] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Set in activity worker processes: tells the main host that a control queue has work.
        self.on_remote_work: Callable[[str], Awaitable[None]] | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, *, orchestrations: bool = True, activities: bool = True) -> None:
        """Run the control-queue dispatchers and/or the work-item dispatcher (activity worker
        processes run only the latter, like extra language-worker processes)."""
        await self.tracking.create()
        await self.queues.create()
        with contextlib.suppress(ResourceExistsError):
            await self.messages.container.create_container()
        await ensure_taskhub_info(self._blobs, self.hub)
        if orchestrations:
            await self.client.recover_pending()
            self._spawn(self.client.recover_pending_loop(self._stopping))
            for name in self.queues.control_names:
                poller = self._pollers[name] = BackoffPoller(name, self.poll_interval)
                self._spawn(self.orchestrations.run(name, poller, self._stopping))
        if activities:
            name = self.queues.workitems_name
            poller = self._pollers[name] = BackoffPoller(name, self.poll_interval)
            self._spawn(self.activities.run(poller, self._stopping))

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    def wake(self, queue: str | None = None) -> None:
        """New work was sent by another process: poll now instead of after the back-off."""
        for name, poller in self._pollers.items():
            if queue is None or name == queue:
                poller.wake()

    async def _on_sent(self, queue: str) -> None:
        poller = self._pollers.get(queue)
        if poller is not None:
            poller.wake()
        elif self.on_remote_work is not None:
            await self.on_remote_work(queue)

    async def stop(self) -> None:
        self._stopping.set()
        self.wake()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.queues.close()
        await self.tracking.close()
        await self._blobs.close()

    # --- client operations (HTTP API) ---------------------------------------------------
    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        return await self.client.start_new(name, instance_id, input_text)

    async def read(self, instance_id: str, history: bool = False) -> Instance | None:
        return await self.client.read(instance_id, history)

    async def send_event(self, instance_id: str, ev: Event) -> None:
        await self.client.send_event(instance_id, ev)

    async def purge(self, instance_id: str) -> int:
        return await self.client.purge(instance_id)

    async def query_instances(
        self, query: str | None, top: int, token: str | None
    ) -> tuple[list[Row], str | None]:
        return await self.client.query(query, top, token)
