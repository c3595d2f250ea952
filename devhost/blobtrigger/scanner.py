"""Detection: list each watched container, claim new blob versions, enqueue them.

The WebJobs SDK's ScanBlobScanLogStrategy role (the path the host takes without storage logs,
as against Azurite): a blob is new when its Last-Modified is at or after the saved cursor
`blobscaninfo/.../scanInfo`; a receipt created with If-None-Match:* claims the version, and a
message on the host's trigger queue hands it to the executor.

Why it stays cheap as containers grow: each poll is one paged listing; blobs older than the
saved cursor and versions already handled this session cost no further round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from devhost import sdkshortcuts
from devhost.blobtrigger.properties import quoted_etag
from devhost.blobtrigger.receipts import receipt_name, scan_info_name
from devhost.blobtrigger.skips import PATH_MISMATCH
from devhost.blobtrigger.targets import WatchedContainer
from devhost.sdkshortcuts import list_blobs
from devhost.textsafe import escape

log = logging.getLogger("devhost.blobtrigger")


class Claim(Enum):
    ENQUEUED = "enqueued"
    DONE = "done"  # a complete receipt: this version was queued before
    RETRY = "retry"  # the receipt is leased by another holder


@dataclass
class ContainerScanner:
    """Scan state of one watched container: the cursor and the versions seen this session."""

    watched: WatchedContainer
    host_id: str
    cursor: datetime | None = None
    cursor_loaded: bool = False
    handled: set[tuple[str, str]] = field(default_factory=set)  # (name, etag) seen this session
    # Versions whose receipt lease another holder had (e.g. a host killed mid-claim, its 30 s
    # lease not yet expired): tried again on every scan whatever the cursor says, as the real
    # scan strategy re-queues executions that did not succeed.
    retry: set[tuple[str, str]] = field(default_factory=set)
    listing_s: float = 0.0  # duration of the last container listing

    async def scan_once(self) -> int:
        """One listing of the container; returns how many blob versions were enqueued."""
        w, t = self.watched, self.watched.target
        receipts = w.account.receipts
        cursor_blob = scan_info_name(self.host_id, t.account_name, t.container)
        if not self.cursor_loaded:
            self.cursor = await receipts.read_cursor(cursor_blob)
            self.cursor_loaded = True
        latest = self.cursor
        candidates: list[tuple[str, str, dict[str, str]]] = []
        mismatched: list[tuple[str, str]] = []
        started = time.monotonic()
        async for blob in list_blobs(w.container):
            lm = blob.last_modified
            if latest is None or lm > latest:
                latest = lm
            key = (blob.name, quoted_etag(blob.etag))
            behind = self.cursor is not None and lm < self.cursor and key not in self.retry
            if key in self.handled or behind:
                continue
            binding = w.path.match(blob.name)
            if binding is None:
                self.handled.add(key)
                mismatched.append(key)
                continue
            candidates.append((blob.name, key[1], binding))
        self.listing_s = time.monotonic() - started
        if mismatched:
            await self._record_mismatches(mismatched)
        enqueued = 0
        for name, etag, _binding in candidates:
            outcome = await self._claim(name, etag)
            if outcome is Claim.RETRY:
                self.retry.add((name, etag))
                continue
            self.retry.discard((name, etag))
            self.handled.add((name, etag))
            if outcome is Claim.ENQUEUED:
                enqueued += 1
        if enqueued:
            w.account.poller.wake()
        if latest is not None and latest != self.cursor:
            await receipts.write_cursor(cursor_blob, latest)
            self.cursor = latest
        return enqueued

    async def _record_mismatches(self, versions: list[tuple[str, str]]) -> None:
        """New versions whose name the path does not match: the real host passes over them
        silently; devhost keeps a record so `status` and the monitor can count them."""
        t = self.watched.target
        reason = f"{PATH_MISMATCH} {t.container}/{t.blob_pattern}"
        for name, etag in versions:
            try:
                await self.watched.account.skips.record(
                    t.function_id, t.container, name, etag, reason
                )
            except Exception as e:  # a record is not worth failing the scan for
                log.warning("Could not record the skip of '%s': %s", escape(name), escape(e))
                return

    async def _claim(self, name: str, etag: str) -> Claim:
        """BlobTriggerExecutor.ExecuteAsync: receipt (incomplete), lease, enqueue, complete.

        Create first (If-None-Match: *): for a new version that is one round trip instead of a
        read then a create. An existing incomplete receipt (a crash between create and
        enqueue) is taken over under the lease and re-read, as the real host does."""
        w, t = self.watched, self.watched.target
        receipts = w.account.receipts
        rname = receipt_name(self.host_id, t.function_id, etag, t.container, name)
        created = await receipts.try_create_incomplete(rname)
        if not created and (await receipts.read(rname)).complete:
            return Claim.DONE
        lease = await receipts.try_acquire_lease(rname)
        if lease is None:
            return Claim.RETRY  # another holder has the lease: try again on a later scan
        try:
            if not created and (await receipts.read(rname)).complete:
                return Claim.DONE
            message = {
                "Type": "BlobTrigger",
                "FunctionId": t.function_id,
                "BlobType": "BlockBlob",
                "ContainerName": t.container,
                "BlobName": name,
                "ETag": etag,
            }
            await sdkshortcuts.send_message(w.account.queue, json.dumps(message).encode())
            await receipts.mark_complete(rname, lease)
        finally:
            await receipts.release_lease(rname, lease)
        log.info("New blob detected: %s/%s (%s) -> %s", t.container, escape(name), escape(etag),
                 t.function_name)  # fmt: skip
        return Claim.ENQUEUED


async def scan_loop(
    scanners: Sequence[ContainerScanner], poll_interval: float, stopping: asyncio.Event
) -> None:
    """Poll every container until `stopping`; a storage outage is logged, never fatal."""
    while not stopping.is_set():
        listing = 0.0
        for scanner in scanners:
            try:
                await scanner.scan_once()
                listing += scanner.listing_s
            except Exception as e:  # storage outage: log and keep polling
                log.warning("Blob scan of '%s' failed: %s", scanner.watched.target.container, e)
        # Listing a big container costs CPU in this process: keep listing to at most a
        # quarter of the time so it cannot starve the functions it feeds. (Only the listing
        # counts: claiming a burst of new blobs must not delay the next scan.)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(poll_interval, 3 * listing)):
                await stopping.wait()
