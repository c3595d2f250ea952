"""storageProvider.partitionCount against a real Azurite: the hub gets that many control
queues (AzureStorageOrchestrationService.cs L123), and a hub created with another count is
warned about and its taskhub.json rewritten (BlobPartitionLeaseManager
GetOrCreateTaskHubInfoAsync: PartitionManagerWarning, then the upload)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import Azurite, client_kwargs
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.messagedata import MessageManager
from devhost.durabletask.azurestorage.partitions import (
    TASKHUB_INFO_BLOB,
    ensure_taskhub_info,
    leases_container,
)
from devhost.durabletask.azurestorage.queues import TaskHubQueues


def test_partition_count_makes_that_many_control_queues_and_updates_taskhub_json(
    azurite: Azurite, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    cs = azurite.connection_string
    opts = client_kwargs(cs)
    hub = unique_name

    async def go() -> tuple[list[str], list[int]]:
        async with BlobServiceClient.from_connection_string(cs, **opts) as blobs:
            service = QueueServiceClient.from_connection_string(cs, **opts)
            manager = MessageManager(blobs.get_container_client(names.largemessages_container(hub)))
            queues = TaskHubQueues(service, hub, manager, 3)
            await queues.create()
            found = [q.name async for q in service.list_queues(name_starts_with=hub.lower())]
            await queues.close()
            counts = []
            container = blobs.get_container_client(leases_container(hub))
            for partitions in (4, 4, 3):
                await ensure_taskhub_info(blobs, hub, partitions)
                info = await (await container.download_blob(TASKHUB_INFO_BLOB)).readall()
                counts.append(json.loads(info)["PartitionCount"])
            return sorted(found), counts

    with caplog.at_level(logging.WARNING, logger="devhost.durable"):
        queues, counts = asyncio.run(go())
    control = [f"{hub.lower()}-control-{p:02d}" for p in range(3)]
    assert queues == [*control, f"{hub.lower()}-workitems"]
    assert counts == [4, 4, 3]
    warnings = [r.getMessage() for r in caplog.records if "Partition count" in r.getMessage()]
    assert warnings == [
        f"Partition count for the task hub {hub} from 4 to 3. This could result in errors for "
        "in-flight orchestrations."
    ]
