"""`--retain-completed` against a real Azurite: the purge query (the OData filter the Durable
HTTP API's purge builds, OrchestrationInstanceStatusQueryCondition.GetConditions) selects by the
Instances table's typed CreatedTime and RuntimeStatus, and each instance goes as
AzureTableTrackingStore.PurgeInstanceHistoryAsync removes it: history rows, the sentinel,
large-message blobs, the instance row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import Azurite, client_kwargs
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.client import ServiceClient
from devhost.durabletask.azurestorage.messagedata import MessageManager
from devhost.durabletask.azurestorage.queues import TaskHubQueues
from devhost.durabletask.azurestorage.sessions import SessionManager
from devhost.durabletask.azurestorage.tracking import TrackingStore
from devhost.durabletask.model.history import EventType, event, iso
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import RuntimeStatus
from devhost.retention import Retention

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BIG = '"' + "x" * 40_000 + '"'  # over 60 KB of UTF-16: offloaded to a blob


async def scenario(cs: str, hub: str) -> None:
    opts = client_kwargs(cs)
    blobs = BlobServiceClient.from_connection_string(cs, **opts)
    messages = MessageManager(blobs.get_container_client(names.largemessages_container(hub)))
    tracking = TrackingStore(TableServiceClient.from_connection_string(cs, **opts), hub, messages)
    queues = TaskHubQueues(QueueServiceClient.from_connection_string(cs, **opts), hub, messages)
    client = ServiceClient(tracking, queues, SessionManager(), clock=lambda: NOW, new_id=str)
    try:
        await tracking.create()
        await messages.container.create_container()
        ages = {
            "old-done": (RuntimeStatus.Completed, 10),
            "old-failed": (RuntimeStatus.Failed, 9),
            "old-terminated": (RuntimeStatus.Terminated, 8),
            "old-running": (RuntimeStatus.Running, 10),
            "young-done": (RuntimeStatus.Completed, 1),
        }
        for iid, (status, days) in ages.items():
            created = NOW - timedelta(days=days)
            inst = Instance(iid, "Orch", "e1", input=BIG, created=created, updated=created)
            inst.status = status
            await tracking.write_instance(iid, inst.row())
            started = event(
                EventType.ExecutionStarted, Name="Orch", Input=BIG, Timestamp=iso(created)
            )
            await tracking.append_history(iid, "e1", 0, [started])
        assert len([b async for b in messages.container.list_blobs()]) == 10

        retention = Retention(client, timedelta(days=7), lambda: NOW, batch=2)
        assert [await retention.purge_batch() for _ in range(3)] == [2, 1, 0]

        left = [str(r["PartitionKey"]) async for r in tracking.instances.list_entities()]
        assert sorted(left) == ["old-running", "young-done"]
        for gone in ("old-done", "old-failed", "old-terminated"):
            assert await tracking.read_history(gone) == (None, [])
        history = {str(r["PartitionKey"]) async for r in tracking.history.list_entities()}
        assert history == {"old-running", "young-done"}
        remaining = sorted([b.name.split("/")[0] async for b in messages.container.list_blobs()])
        assert remaining == ["old-running", "old-running", "young-done", "young-done"]
    finally:
        await tracking.close()
        await queues.close()
        await blobs.close()


def test_retention_purges_old_terminal_instances_from_azurite(
    azurite: Azurite, unique_name: str
) -> None:
    asyncio.run(scenario(azurite.connection_string, "Ret" + unique_name))
