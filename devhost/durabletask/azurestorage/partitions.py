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
import logging

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from devhost.durabletask.azurestorage import names
from devhost.durabletask.model.history import iso, utcnow

log = logging.getLogger("devhost.durable")

TASKHUB_INFO_BLOB = "taskhub.json"  # BlobPartitionLeaseManager.TaskHubInfoBlobName
SINGLE_OWNER_NOTE = (
    "devhost owns all {n} control partitions of task hub '{hub}' without leases: do not run "
    "another host (func start, a deployed app) on the same hub and storage account at once"
)


def leases_container(hub: str) -> str:
    return f"{hub.lower()}-leases"  # AzureStorageOrchestrationService.cs L229


def stale_warning(current: dict[str, object], hub: str, partitions: int) -> str | None:
    """BlobPartitionLeaseManager.IsStale + its PartitionManagerWarning: the hub was created
    under another name or partition count."""
    name = str(current.get("TaskHubName", ""))
    count = current.get("PartitionCount")
    if name.lower() == hub.lower() and count == partitions:
        return None
    return (
        f"Partition count for the task hub {name} from {count} to {partitions}. This could "
        "result in errors for in-flight orchestrations."
    )


async def ensure_taskhub_info(
    blobs: BlobServiceClient, hub: str, partitions: int = names.PARTITIONS
) -> None:
    """Create `{hub}-leases/taskhub.json` (TaskHubInfo.cs) unless it exists; when it names
    another partition count, warn and rewrite it as GetOrCreateTaskHubInfoAsync does (the
    service runs with the configured count either way)."""
    container = blobs.get_container_client(leases_container(hub))
    with contextlib.suppress(ResourceExistsError):
        await container.create_container()
    info = {"TaskHubName": hub, "CreatedAt": iso(utcnow()), "PartitionCount": partitions}
    try:
        blob = await container.download_blob(TASKHUB_INFO_BLOB)
        current = json.loads(await blob.readall())
    except (ResourceNotFoundError, ValueError):
        current = None
    if isinstance(current, dict):
        warning = stale_warning(current, hub, partitions)
        if warning is not None:
            log.warning(warning)
            with contextlib.suppress(Exception):  # best effort, as in the real one
                await container.upload_blob(TASKHUB_INFO_BLOB, json.dumps(info), overwrite=True)
        return
    with contextlib.suppress(ResourceExistsError):
        await container.upload_blob(TASKHUB_INFO_BLOB, json.dumps(info), overwrite=False)
