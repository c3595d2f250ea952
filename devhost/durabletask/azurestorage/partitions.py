"""Partition bookkeeping (DurableTask.AzureStorage's `Partitioning/`).

The real backend balances the control-queue partitions between workers with leases in
`{hub}-leases` (blob partition manager: `taskhub.json` + `default/{hub}-control-NN`) or in a
`{hub}Partitions` table. devhost is one worker that owns every partition, so it takes no leases;
it writes `taskhub.json` like BlobPartitionLeaseManager.CreateTaskHubInfoIfNotExistAsync so tools
that inspect a hub recognise it, and says at start that it must not share a hub with another
running host.
"""

from __future__ import annotations

import contextlib
import json

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob.aio import BlobServiceClient

from devhost.durabletask.azurestorage import names
from devhost.durabletask.model.history import iso, utcnow

TASKHUB_INFO_BLOB = "taskhub.json"  # BlobPartitionLeaseManager.TaskHubInfoBlobName
SINGLE_OWNER_NOTE = (
    "devhost owns all {n} control partitions of task hub '{hub}' without leases: do not run "
    "another host (func start, a deployed app) on the same hub and storage account at once"
)


def leases_container(hub: str) -> str:
    return f"{hub.lower()}-leases"  # AzureStorageOrchestrationService.cs L229


async def ensure_taskhub_info(blobs: BlobServiceClient, hub: str) -> None:
    """Create `{hub}-leases/taskhub.json` (TaskHubInfo.cs) unless it exists."""
    container = blobs.get_container_client(leases_container(hub))
    with contextlib.suppress(ResourceExistsError):
        await container.create_container()
    info = {"TaskHubName": hub, "CreatedAt": iso(utcnow()), "PartitionCount": names.PARTITIONS}
    with contextlib.suppress(ResourceExistsError):
        await container.upload_blob(TASKHUB_INFO_BLOB, json.dumps(info), overwrite=False)
