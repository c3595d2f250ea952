"""Blob receipts and scan cursors in `azure-webjobs-hosts`, laid out like the real host's.

A receipt `blobreceipts/{hostId}/{functionId}/{"ETag"}/{container}/{blob}` records that a blob
version was handed to a function; metadata `Incomplete=true` while the work is queued or running.
The scan cursor `blobscaninfo/{hostId}/{account}/{container}/scanInfo` holds `{"LatestScan": ...}`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from devhost.blobtrigger.properties import quoted_etag

HOSTS_CONTAINER = "azure-webjobs-hosts"
INCOMPLETE = "Incomplete"


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
        return Receipt(exists=True, complete=(props.metadata or {}).get(INCOMPLETE) != "true")

    async def try_create_incomplete(self, name: str) -> bool:
        """Create the receipt only if absent (If-None-Match: *); False when another got it."""
        self.calls += 1
        try:
            await self.hosts.get_blob_client(name).upload_blob(
                b"", metadata={INCOMPLETE: "true"}, match_condition=MatchConditions.IfMissing
            )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    async def mark_complete(self, name: str, *, poisoned: bool = False) -> None:
        """Clear Incomplete. A poisoned version is closed too (marked Poisoned=true), so a
        restart's rescan does not run it again; the poison queue message is its record."""
        self.calls += 1
        await self.hosts.get_blob_client(name).set_blob_metadata(
            {"Poisoned": "true"} if poisoned else {}
        )

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
