"""The Durable engine as the extension wires it (`AzureStorageDurabilityProviderFactory` +
DurableTask.Core's `TaskHubWorker`): the AzureStorage backend's clients and service, the core's
executor, dispatchers and task hub client, and the one clock and id factory they all share.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import client_kwargs
from devhost.contracts import FunctionRunner
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.client import ServiceClient
from devhost.durabletask.azurestorage.messagedata import MessageManager
from devhost.durabletask.azurestorage.partitions import ensure_taskhub_info
from devhost.durabletask.azurestorage.queues import TaskHubQueues
from devhost.durabletask.azurestorage.service import TaskHubService
from devhost.durabletask.azurestorage.sessions import SessionManager
from devhost.durabletask.azurestorage.tracking import TrackingStore
from devhost.durabletask.core.activity_dispatcher import ActivityDispatcher
from devhost.durabletask.core.executor import Replayer
from devhost.durabletask.core.functions import FunctionCatalog
from devhost.durabletask.core.orchestration_dispatcher import FinishHook, OrchestrationDispatcher
from devhost.durabletask.core.taskhub_client import TaskHubClient
from devhost.durabletask.model.history import utcnow
from devhost.queuepump import BackoffPoller

__all__ = ["DurableEngine"]


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class _OtherHub:
    client: TaskHubClient
    tracking: TrackingStore
    queues: TaskHubQueues
    blobs: BlobServiceClient


def _hub_client(cs: str, hub: str, runner: FunctionRunner) -> _OtherHub:
    """Clients of another task hub's tables and queues in the same storage account."""
    opts = client_kwargs(cs)
    blobs = BlobServiceClient.from_connection_string(cs, **opts)
    messages = MessageManager(blobs.get_container_client(names.largemessages_container(hub)))
    tracking = TrackingStore(TableServiceClient.from_connection_string(cs, **opts), hub, messages)
    queues = TaskHubQueues(QueueServiceClient.from_connection_string(cs, **opts), hub, messages)
    service = ServiceClient(tracking, queues, SessionManager(), clock=utcnow, new_id=new_id)
    return _OtherHub(TaskHubClient(service, runner), tracking, queues, blobs)


class DurableEngine:
    def __init__(
        self,
        connection_string: str,
        hub_name: str,
        runner: FunctionRunner,
        *,
        poll_interval: float = 1.0,
        activity_concurrency: int = 8,
        orchestration_concurrency: int | None = None,
        partitions: int = names.PARTITIONS,
        control_batch: int = 32,
        control_visibility: int = 30,
        activity_visibility: int = 60,
        on_finished: FinishHook | None = None,
    ) -> None:
        """The keyword arguments are the extension's options (hostsettings.DurableSettings):
        poll_interval is maxQueuePollingInterval, the concurrencies maxConcurrent*Functions,
        partitions partitionCount, control_batch controlQueueBatchSize."""
        self.hub = hub_name
        self.runner = runner
        self.poll_interval = poll_interval
        self._connection_string = connection_string
        self._other_hubs: dict[str, _OtherHub] = {}
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
            partitions,
        )
        self.partitions = partitions
        self.queues.on_sent = self._on_sent
        self.sessions = SessionManager()
        # The one place devhost's Durable engine reads the clock and makes ids: everything
        # below takes them as arguments (tests pass fixed ones).
        self.service = TaskHubService(
            self.tracking,
            self.queues,
            self.sessions,
            clock=utcnow,
            control_visibility=control_visibility,
            activity_visibility=activity_visibility,
        )
        self.service_client = ServiceClient(
            self.tracking, self.queues, self.sessions, clock=utcnow, new_id=new_id
        )
        self.client = TaskHubClient(self.service_client, runner)
        self.orchestrations = OrchestrationDispatcher(
            self.service,
            Replayer(
                runner.run_orchestrator,
                clock=utcnow,
                new_id=new_id,
                functions=FunctionCatalog(runner),
            ),
            on_finished=on_finished,
            batch=control_batch,
            max_concurrent=orchestration_concurrency,
        )
        self.activities = ActivityDispatcher(
            self.service, runner, concurrency=activity_concurrency, visibility=activity_visibility
        )
        self._pollers: dict[str, BackoffPoller] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Set in activity worker processes: tells the main host that a control queue has work.
        self.on_remote_work: Callable[[str], Awaitable[None]] | None = None

    def client_for(self, hub: str | None) -> TaskHubClient:
        """HttpApiHandler.GetClient: the request's `taskHub` names any task hub in the same
        storage account (a DurableClientAttribute with that TaskHub); the app's own by default.
        Another hub's instances run wherever its host runs; this client only reads and writes
        its tables and queues."""
        if not hub or hub.casefold() == self.hub.casefold():
            return self.client
        found = self._other_hubs.get(hub.casefold())
        if found is None:
            found = self._other_hubs[hub.casefold()] = _hub_client(
                self._connection_string, hub, self.runner
            )
        return found.client

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, *, orchestrations: bool = True, activities: bool = True) -> None:
        """Run the control-queue dispatchers and/or the work-item dispatcher (activity worker
        processes run only the latter, like extra language-worker processes)."""
        await self.tracking.create()
        await self.queues.create()
        with contextlib.suppress(ResourceExistsError):
            await self.messages.container.create_container()
        await ensure_taskhub_info(self._blobs, self.hub, self.partitions)
        if orchestrations:
            await self.service_client.recover_pending()
            self._spawn(self.service_client.recover_pending_loop(self._stopping))
            for name in self.queues.control_names:
                poller = self._pollers[name] = BackoffPoller(name, self.poll_interval)
                self._spawn(self.orchestrations.receive(name, poller, self._stopping))
            self._spawn(self.orchestrations.run(self._stopping))
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
        for other in self._other_hubs.values():
            await other.queues.close()
            await other.tracking.close()
            await other.blobs.close()
