"""Execution: run the function for each message on `azure-webjobs-blobtrigger-{hostId}`.

The WebJobs SDK's BlobQueueTriggerExecutor / BlobTriggerExecutor role. Work lives on a storage
queue so it survives a SIGKILL; a message is checked against its receipt, the blob is read with
If-Match on the claimed ETag, and failures are retried with the queue's DequeueCount until
`poison_threshold`, when the message moves to `webjobs-blobtrigger-poison`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.queue import QueueMessage

from devhost.blobtrigger.properties import blob_properties_dict
from devhost.blobtrigger.receipts import receipt_name
from devhost.blobtrigger.targets import POISON_QUEUE, AccountClients, WatchedContainer
from devhost.contracts import BlobHandler, BlobTriggerEvent, BlobTriggerTarget

log = logging.getLogger("devhost.blobtrigger")


class BlobTriggerExecutor:
    def __init__(
        self,
        watched: list[WatchedContainer],
        handler: BlobHandler,
        *,
        host_id: str,
        claimed: set[str],
        poll_interval: float,
        poison_threshold: int,
        max_concurrency: int,
        retry_delay: float,
        visibility_timeout: float,
    ) -> None:
        self.watched = watched
        self.handler = handler
        self.host_id = host_id
        self.poll_interval = poll_interval
        self.poison_threshold = poison_threshold
        self.retry_delay = retry_delay
        self.visibility_timeout = visibility_timeout
        self._max = max_concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        # Receipts this process created (incomplete, queued) and has not completed yet.
        self._claimed = claimed

    async def work_loop(self, acct: AccountClients, stopping: asyncio.Event) -> None:
        idle = 0.05
        while not stopping.is_set():
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

    async def close(self) -> None:
        """Cancel running invocations (their messages reappear for the next host)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _target(self, function_id: str) -> WatchedContainer | None:
        for w in self.watched:
            if w.target.function_id == function_id:
                return w
        return None

    async def _process(self, acct: AccountClients, msg: QueueMessage) -> None:
        try:
            await self._process_message(acct, msg)
        except Exception as e:  # storage fault mid-way: the message reappears and is retried
            log.warning("Blob trigger message processing failed: %s", e)

    async def _process_message(self, acct: AccountClients, msg: QueueMessage) -> None:
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

    async def _complete(self, acct: AccountClients, rname: str, *, poisoned: bool = False) -> None:
        await acct.receipts.mark_complete(rname, poisoned=poisoned)
        self._claimed.discard(rname)

    async def _keep_invisible(self, acct: AccountClients, msg: QueueMessage) -> None:
        """Renew the message's invisibility while the function runs (long functions)."""
        while True:
            await asyncio.sleep(self.visibility_timeout / 2)
            updated = await acct.queue.update_message(
                msg, visibility_timeout=int(self.visibility_timeout)
            )
            msg.pop_receipt = updated.pop_receipt

    async def _failed(  # noqa: PLR0917
        self,
        acct: AccountClients,
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
