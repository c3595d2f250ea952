"""Blob trigger by container scan, with receipts and a durable work queue like the real host.

Why a queue: detection and execution are split as in the WebJobs SDK. The scanner claims each new
blob version with a receipt (If-None-Match:*) and enqueues a message on
`azure-webjobs-blobtrigger-{hostId}`; workers run the function from that queue, so pending work
survives a SIGKILL, failures are retried with the queue's DequeueCount, and after
`poison_threshold` attempts the message moves to `webjobs-blobtrigger-poison`.

Why it stays cheap as containers grow: each poll is one paged listing; blobs older than the
saved cursor and versions already handled this session cost no further round trips.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueMessage
from azure.storage.queue.aio import QueueClient

from devhost.azurite import client_kwargs
from devhost.blobtrigger.listing import list_blobs
from devhost.blobtrigger.paths import BlobPath, parse_blob_path
from devhost.blobtrigger.receipts import (
    HOSTS_CONTAINER,
    ReceiptStore,
    receipt_name,
    scan_info_name,
)
from devhost.contracts import BlobHandler, BlobTriggerEvent, BlobTriggerTarget

log = logging.getLogger("devhost.blobtrigger")

POISON_QUEUE = "webjobs-blobtrigger-poison"


def host_queue_name(host_id: str) -> str:
    return f"azure-webjobs-blobtrigger-{host_id}"


def _account_name(connection_string: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return "devstoreaccount1"
    name = parts.get("AccountName")
    if not name:
        raise ValueError("the storage connection string has no AccountName")
    return name


def target_from_binding(
    function_name: str, binding: Mapping[str, Any], settings: Mapping[str, str]
) -> BlobTriggerTarget:
    """Resolve a blobTrigger binding against the app settings; ValueError says what is wrong."""
    path = parse_blob_path(str(binding.get("path", "")))
    connection = str(binding.get("connection") or "AzureWebJobsStorage")
    value = settings.get(connection)
    if not value:
        if any(k.startswith(connection + "__") for k in settings):
            raise ValueError(
                f"function '{function_name}': identity-based connection '{connection}__*' "
                "is not supported locally; set '{connection}' to a connection string"
            )
        raise ValueError(
            f"function '{function_name}': the connection setting '{connection}' is not set"
        )
    return BlobTriggerTarget(
        function_name=function_name,
        function_id=f"Host.Functions.{function_name}",
        connection_string=value,
        account_name=_account_name(value),
        container=path.container,
        blob_pattern=path.pattern,
    )


def quoted_etag(etag: str) -> str:
    """ETags with their quotes, as Get Blob Properties returns them (listings may drop them)."""
    return etag if etag.startswith('"') else f'"{etag}"'


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def blob_properties_dict(props: BlobProperties) -> dict[str, Any]:
    """BlobProperties serialised with the real host's (Azure.Storage.Blobs) PascalCase names."""
    settings = props.content_settings
    md5 = settings.content_md5
    return {
        "ContentLength": props.size,
        "Length": props.size,
        "ContentType": settings.content_type,
        "ContentEncoding": settings.content_encoding,
        "ContentLanguage": settings.content_language,
        "ContentDisposition": settings.content_disposition,
        "CacheControl": settings.cache_control,
        "ContentHash": base64.b64encode(bytes(md5)).decode() if md5 else None,
        "ETag": props.etag,
        "LastModified": _iso(props.last_modified),
        "CreatedOn": _iso(props.creation_time),
        "BlobType": str(getattr(props.blob_type, "value", props.blob_type)).removesuffix("Blob"),
        "Metadata": dict(props.metadata or {}),
    }


@dataclass
class _Watched:
    target: BlobTriggerTarget
    path: BlobPath
    container: ContainerClient
    cursor: datetime | None = None
    cursor_loaded: bool = False
    handled: set[tuple[str, str]] = field(default_factory=set)  # (name, etag) seen this session
    listing_s: float = 0.0  # duration of the last container listing


@dataclass
class _Account:
    service: BlobServiceClient
    queue: QueueClient
    poison: QueueClient
    receipts: ReceiptStore
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class BlobTriggerListener:
    def __init__(
        self,
        targets: list[BlobTriggerTarget],
        handler: BlobHandler,
        *,
        host_id: str,
        poll_interval: float = 1.0,
        poison_threshold: int = 5,
        max_concurrency: int = 8,
        retry_delay: float = 2.0,
        visibility_timeout: float = 30.0,
    ) -> None:
        self.targets = targets
        self.handler = handler
        self.host_id = host_id
        self.poll_interval = poll_interval
        self.poison_threshold = poison_threshold
        self.retry_delay = retry_delay
        self.visibility_timeout = visibility_timeout
        self._max = max_concurrency
        self._accounts: dict[str, _Account] = {}
        self._watched: list[tuple[_Account, _Watched]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        # Receipts this process created (incomplete, queued) and has not completed yet.
        self._claimed: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def _open(self) -> None:
        for t in self.targets:
            acct = self._accounts.get(t.connection_string)
            if acct is None:
                opts = client_kwargs(t.connection_string)
                service = BlobServiceClient.from_connection_string(t.connection_string, **opts)
                qargs = {
                    "message_encode_policy": BinaryBase64EncodePolicy(),
                    "message_decode_policy": BinaryBase64DecodePolicy(),
                    **opts,
                }
                acct = _Account(
                    service=service,
                    queue=QueueClient.from_connection_string(
                        t.connection_string, host_queue_name(self.host_id), **qargs
                    ),
                    poison=QueueClient.from_connection_string(
                        t.connection_string, POISON_QUEUE, **qargs
                    ),
                    receipts=ReceiptStore(service.get_container_client(HOSTS_CONTAINER)),
                )
                await acct.receipts.ensure_container()
                for q in (acct.queue, acct.poison):
                    with contextlib.suppress(ResourceExistsError):
                        await q.create_queue()
                self._accounts[t.connection_string] = acct
            path = parse_blob_path(f"{t.container}/{t.blob_pattern}")
            container = acct.service.get_container_client(t.container)
            with contextlib.suppress(ResourceExistsError):
                await container.create_container()  # private; the host creates it too
            self._watched.append((acct, _Watched(target=t, path=path, container=container)))

    async def run(self) -> None:
        await self._open()
        loops = [self._scan_loop()] + [self._work_loop(a) for a in self._accounts.values()]
        try:
            await asyncio.gather(*loops)
        finally:
            await self._close()

    async def stop(self) -> None:
        self._stopping.set()
        for acct in self._accounts.values():
            acct.wake.set()

    async def _close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for acct in self._accounts.values():
            await acct.queue.close()
            await acct.poison.close()
            await acct.service.close()

    # -- detection -----------------------------------------------------------------------------

    async def _scan_loop(self) -> None:
        while not self._stopping.is_set():
            listing = 0.0
            for acct, watched in self._watched:
                try:
                    await self.scan_once(acct, watched)
                    listing += watched.listing_s
                except Exception as e:  # storage outage: log and keep polling
                    log.warning("Blob scan of '%s' failed: %s", watched.target.container, e)
            # Listing a big container costs CPU in this process: keep listing to at most a
            # quarter of the time so it cannot starve the functions it feeds. (Only the listing
            # counts: claiming a burst of new blobs must not delay the next scan.)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(self.poll_interval, 3 * listing))

    async def scan_once(self, acct: _Account, w: _Watched) -> int:
        """One listing of the container; returns how many blob versions were enqueued."""
        t = w.target
        cursor_blob = scan_info_name(self.host_id, t.account_name, t.container)
        if not w.cursor_loaded:
            w.cursor = await acct.receipts.read_cursor(cursor_blob)
            w.cursor_loaded = True
        latest = w.cursor
        candidates: list[tuple[str, str, dict[str, str]]] = []
        started = time.monotonic()
        async for blob in list_blobs(w.container):
            lm = blob.last_modified
            if latest is None or lm > latest:
                latest = lm
            key = (blob.name, quoted_etag(blob.etag))
            if key in w.handled or (w.cursor is not None and lm < w.cursor):
                continue
            binding = w.path.match(blob.name)
            if binding is None:
                w.handled.add(key)
                continue
            candidates.append((blob.name, key[1], binding))
        w.listing_s = time.monotonic() - started
        enqueued = 0
        for name, etag, _binding in candidates:
            if await self._claim(acct, t, name, etag):
                enqueued += 1
            w.handled.add((name, etag))
        if enqueued:
            acct.wake.set()
        if latest is not None and latest != w.cursor:
            await acct.receipts.write_cursor(cursor_blob, latest)
            w.cursor = latest
        return enqueued

    async def _claim(self, acct: _Account, t: BlobTriggerTarget, name: str, etag: str) -> bool:
        rname = receipt_name(self.host_id, t.function_id, etag, t.container, name)
        # Create first (If-None-Match: *): a new version costs one round trip. An existing
        # receipt that is still incomplete (left by a crash, or created by a request whose
        # reply was lost and whose SDK retry then saw 409) is queued again: a duplicate
        # message is harmless, processing re-checks the receipt and the function dedupes.
        if await acct.receipts.try_create_incomplete(rname):
            self._claimed.add(rname)
        else:
            receipt = await acct.receipts.read(rname)
            if receipt.exists and receipt.complete:
                return False
        message = {
            "Type": "BlobTrigger",
            "FunctionId": t.function_id,
            "BlobType": "BlockBlob",
            "ContainerName": t.container,
            "BlobName": name,
            "ETag": etag,
        }
        await acct.queue.send_message(json.dumps(message).encode())
        log.info("New blob detected: %s/%s (%s) -> %s", t.container, name, etag, t.function_name)
        return True

    # -- execution -----------------------------------------------------------------------------

    async def _work_loop(self, acct: _Account) -> None:
        idle = 0.05
        while not self._stopping.is_set():
            free = self._max - len(self._tasks)
            got = 0
            if free > 0:
                try:
                    async for msg in acct.queue.receive_messages(
                        max_messages=min(32, free),
                        visibility_timeout=int(self.visibility_timeout),
                    ):
                        got += 1
                        task = asyncio.create_task(self._process(acct, msg))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                except Exception as e:
                    log.warning("Blob trigger queue receive failed: %s", e)
            if got:
                idle = 0.05
                continue
            acct.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(acct.wake.wait(), idle)
            idle = min(idle * 2, self.poll_interval)

    def _target(self, function_id: str) -> _Watched | None:
        for _, w in self._watched:
            if w.target.function_id == function_id:
                return w
        return None

    async def _process(self, acct: _Account, msg: QueueMessage) -> None:
        try:
            await self._process_message(acct, msg)
        except Exception as e:  # storage fault mid-way: the message reappears and is retried
            log.warning("Blob trigger message processing failed: %s", e)

    async def _process_message(self, acct: _Account, msg: QueueMessage) -> None:
        try:
            body = json.loads(msg.content)
            w = self._target(body["FunctionId"])
            name, etag = body["BlobName"], body["ETag"]
        except (ValueError, KeyError, TypeError):
            log.error("Dropping malformed blob trigger message: %r", msg.content)
            await acct.queue.delete_message(msg)
            return
        if w is None:  # function removed or renamed since the message was queued
            await acct.queue.delete_message(msg)
            return
        t = w.target
        blob = w.container.get_blob_client(name)
        rname = receipt_name(self.host_id, t.function_id, etag, t.container, name)
        # A receipt this process created and has not completed needs no read.
        if rname not in self._claimed:
            receipt = await acct.receipts.read(rname)
            if receipt.exists and receipt.complete:
                await acct.queue.delete_message(msg)
                return
            if not receipt.exists:
                await acct.receipts.try_create_incomplete(rname)
        try:
            # If-Match: a blob overwritten since has its own message; one download call
            # returns both the content and the properties the binding needs.
            downloader = await blob.download_blob(
                etag=etag, match_condition=MatchConditions.IfNotModified
            )
            content = await downloader.readall()
        except (ResourceNotFoundError, ResourceModifiedError):
            await self._complete(acct, rname)
            await acct.queue.delete_message(msg)
            return
        props = downloader.properties
        event = BlobTriggerEvent(
            target=t,
            blob_name=name,
            uri=blob.url,
            etag=etag,
            content=content,
            properties=blob_properties_dict(props),
            metadata=dict(props.metadata or {}),
            binding_data=w.path.match(name) or {},
        )
        renew = asyncio.create_task(self._keep_invisible(acct, msg))
        try:
            await self.handler(event)
        except Exception as e:
            renew.cancel()
            await self._failed(acct, msg, t, name, etag, e)
            return
        finally:
            renew.cancel()
        await self._complete(acct, rname)
        await acct.queue.delete_message(msg)

    async def _complete(self, acct: _Account, rname: str, *, poisoned: bool = False) -> None:
        await acct.receipts.mark_complete(rname, poisoned=poisoned)
        self._claimed.discard(rname)

    async def _keep_invisible(self, acct: _Account, msg: QueueMessage) -> None:
        """Renew the message's invisibility while the function runs (long functions)."""
        while True:
            await asyncio.sleep(self.visibility_timeout / 2)
            updated = await acct.queue.update_message(
                msg, visibility_timeout=int(self.visibility_timeout)
            )
            msg.pop_receipt = updated.pop_receipt

    async def _failed(  # noqa: PLR0917
        self,
        acct: _Account,
        msg: QueueMessage,
        t: BlobTriggerTarget,
        name: str,
        etag: str,
        e: Exception,
    ) -> None:
        attempt = msg.dequeue_count or 1
        if attempt >= self.poison_threshold:
            await acct.poison.send_message(msg.content)
            await self._complete(
                acct,
                receipt_name(self.host_id, t.function_id, etag, t.container, name),
                poisoned=True,
            )
            await acct.queue.delete_message(msg)
            log.error(
                "Blob '%s/%s' is poison: '%s' failed %d times (last error: %s); "
                "moved to queue '%s'",
                t.container, name, t.function_name, attempt, e, POISON_QUEUE,
            )  # fmt: skip
            return
        log.warning(
            "'%s' failed on blob '%s/%s' (attempt %d of %d): %s",
            t.function_name, t.container, name, attempt, self.poison_threshold, e,
        )  # fmt: skip
        await acct.queue.update_message(msg, visibility_timeout=max(1, int(self.retry_delay)))
