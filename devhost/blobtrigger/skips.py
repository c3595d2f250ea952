"""What the blob trigger skipped, and why: one record per blob version, counted by reason.

The real host only logs these; devhost also keeps them so `devhost status` and the monitor can
show them (a newcomer's non-image file otherwise vanishes into the host log). Reasons come from
two places: the host itself (a name the trigger's path does not match, a version deleted or
overwritten before its function ran) and the app, whose view (devhost.monitor.appview
`skipped`) says why its trigger function starts nothing for a name.

Records are empty blobs in the host's own container `azure-webjobs-hosts` (where receipts
live), under `devhost-skipped/{hostId}/`, named by a hash of function, blob and ETag (a version
skipped twice is one record) and carrying the reason and blob name in their metadata; counting
is one listing with metadata. Nothing the app's code reads changes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from devhost.azurite import client_kwargs
from devhost.blobtrigger.receipts import HOSTS_CONTAINER

SkipReason = Callable[[str, str], str | None]
"""(function name, blob name) -> why the function started nothing for it, or None."""
PREFIX = "devhost-skipped"
PATH_MISMATCH = "name does not match the trigger's path"
VERSION_GONE = "deleted or overwritten before the function ran"


def record_name(host_id: str, function_id: str, container: str, blob: str, etag: str) -> str:
    key = f"{function_id}\n{container}/{blob}\n{etag}".encode()
    return f"{PREFIX}/{host_id}/{hashlib.sha256(key).hexdigest()}"


@dataclass
class SkipLog:
    """Writes this host's skip records (one per blob version; writing again is harmless)."""

    hosts: ContainerClient
    host_id: str

    async def record(
        self, function_id: str, container: str, blob: str, etag: str, reason: str
    ) -> None:
        name = record_name(self.host_id, function_id, container, blob, etag)
        # Metadata values are ASCII: names and reasons from outside are percent-encoded, and
        # all of a blob's metadata must stay under 8 KB (a 1,024-character name of 4-byte
        # characters would quote to 12 KB).
        metadata = {
            "reason": quote(reason[:300])[:3000],
            "blob": quote(f"{container}/{blob}")[:3000],
        }
        await self.hosts.get_blob_client(name).upload_blob(b"", metadata=metadata, overwrite=True)


async def skip_counts(connection_string: str, host_id: str) -> dict[str, int]:
    """{reason: versions skipped} of one host, most frequent first ({} when none)."""
    counts: Counter[str] = Counter()
    container = ContainerClient.from_connection_string(
        connection_string, HOSTS_CONTAINER, **client_kwargs(connection_string)
    )
    async with container:
        try:
            async for blob in container.list_blobs(
                name_starts_with=f"{PREFIX}/{host_id}/", include=["metadata"]
            ):
                counts[unquote((blob.metadata or {}).get("reason", "")) or "unknown"] += 1
        except ResourceNotFoundError:  # no container yet: the host never ran
            return {}
    return dict(counts.most_common())
