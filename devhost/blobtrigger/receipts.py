"""Blob receipts and scan cursors in `azure-webjobs-hosts`, laid out like the real host's.

A receipt `blobreceipts/{hostId}/{functionId}/{"ETag"}/{container}/{blob}` records that a blob
version was queued for a function (BlobReceiptManager.cs, BlobReceipt.cs): it is created with
metadata `Incomplete=Incomplete` (only the key's presence matters), and the key is removed, under
a 30 s lease, as soon as the trigger message is enqueued (BlobTriggerExecutor.ExecuteAsync) --
not when the function finishes: from then on the queue message carries the work (retries,
poison). The scan cursor `blobscaninfo/{hostId}/{account}/{container}/scanInfo` holds
`{"LatestScan": ...}`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import ContainerClient

from devhost import sdkshortcuts
from devhost.blobtrigger.properties import quoted_etag

HOSTS_CONTAINER = "azure-webjobs-hosts"
INCOMPLETE = "Incomplete"
LEASE_SECONDS = 30  # BlobReceiptManager.LeasePeriod


def receipt_name(host_id: str, function_id: str, etag: str, container: str, blob: str) -> str:
    return f"blobreceipts/{host_id}/{function_id}/{quoted_etag(etag)}/{container}/{blob}"


def scan_info_name(host_id: str, account: str, container: str) -> str:
    return f"blobscaninfo/{host_id}/{account}/{container}/scanInfo"


@dataclass(frozen=True)
class Receipt:
    exists: bool
    complete: bool


@dataclass
class ReceiptStore:
    hosts: ContainerClient
    calls: int = 0  # receipt round trips, for the non-quadratic-scan test

    async def ensure_container(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.hosts.create_container()

    async def read(self, name: str) -> Receipt:
        self.calls += 1
        try:
            props = await self.hosts.get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError:
            return Receipt(exists=False, complete=False)
        keys = {k.lower() for k in (props.metadata or {})}
        return Receipt(exists=True, complete=INCOMPLETE.lower() not in keys)

    async def try_create_incomplete(self, name: str) -> bool:
        """Create the receipt only if absent (If-None-Match: *); False when another got it."""
        self.calls += 1
        try:
            await sdkshortcuts.create_if_missing(self.hosts, name, {INCOMPLETE: INCOMPLETE})
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    async def try_acquire_lease(self, name: str) -> str | None:
        """A 30 s lease on the receipt, or None when another holds it or it is gone."""
        self.calls += 1
        try:
            return await sdkshortcuts.acquire_lease(self.hosts, name, LEASE_SECONDS)
        except (ResourceExistsError, ResourceNotFoundError, HttpResponseError) as exc:
            if getattr(exc, "status_code", None) in (404, 409):
                return None
            raise

    async def mark_complete(self, name: str, lease_id: str) -> None:
        """Remove `Incomplete` (under the lease); a receipt that is gone needs nothing."""
        self.calls += 1
        with contextlib.suppress(ResourceNotFoundError):
            await sdkshortcuts.set_metadata(self.hosts, name, {}, lease_id)

    async def release_lease(self, name: str, lease_id: str) -> None:
        self.calls += 1
        with contextlib.suppress(ResourceNotFoundError, ResourceExistsError):
            await sdkshortcuts.release_lease(self.hosts, name, lease_id)

    async def read_cursor(self, name: str) -> datetime | None:
        try:
            data = await (await self.hosts.get_blob_client(name).download_blob()).readall()
        except ResourceNotFoundError:
            return None
        try:
            return datetime.fromisoformat(json.loads(data)["LatestScan"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            return None

    async def write_cursor(self, name: str, latest: datetime) -> None:
        body = json.dumps({"LatestScan": latest.isoformat().replace("+00:00", "Z")})
        await self.hosts.get_blob_client(name).upload_blob(body.encode(), overwrite=True)
