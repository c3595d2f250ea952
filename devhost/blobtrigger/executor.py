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
from dataclasses import dataclass

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.queue import QueueMessage

from devhost import sdkshortcuts
from devhost.blobtrigger.properties import blob_properties_dict
from devhost.blobtrigger.skips import VERSION_GONE, SkipReason
from devhost.blobtrigger.targets import POISON_QUEUE, AccountClients, WatchedContainer
from devhost.contracts import BlobHandler, BlobTriggerEvent, BlobTriggerTarget
from devhost.queuepump import keep_invisible
from devhost.textsafe import escape

log = logging.getLogger("devhost.blobtrigger")


@dataclass(frozen=True)
class ExecutorOptions:
    poll_interval: float = 1.0  # ceiling of the idle queue back-off
    poison_threshold: int = 5  # host.json extensions.blobs.poisonBlobThreshold
    max_concurrency: int = 8
    retry_delay: float = 2.0  # a failed message reappears after this
    visibility_timeout: float = 30.0  # renewed while the function runs


class BlobTriggerExecutor:
    """Runs messages from each account's trigger queue, at most `max_concurrency` at once."""

    def __init__(
        self,
        watched: list[WatchedContainer],
        handler: BlobHandler,
        *,
        host_id: str,
        options: ExecutorOptions,
        skip_reason: SkipReason | None = None,
    ) -> None:
        self.skip_reason = skip_reason
        self.watched = watched
        self.handler = handler
        self.host_id = host_id
        self.options = options
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    async def work_loop(self, acct: AccountClients, stopping: asyncio.Event) -> None:
        """Receive through the account's BackoffPoller (the durable engine's pace rules)."""
        visibility = int(self.options.visibility_timeout)

        async def fetch(count: int) -> list[QueueMessage]:
            return await sdkshortcuts.receive_messages(acct.queue, count, visibility)

        while not stopping.is_set():
            free = self.options.max_concurrency - len(self._tasks)
            if free <= 0:  # at capacity: wait for an invocation to finish
                self._slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.options.poll_interval):
                        await self._slot_freed.wait()
                continue
            for msg in await acct.poller.receive(fetch, free):
                task = asyncio.create_task(self._process(acct, msg))
                self._tasks.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()

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
            log.warning("Blob trigger message processing failed: %s", escape(e))

    async def _process_message(self, acct: AccountClients, msg: QueueMessage) -> None:
        try:
            body = json.loads(msg.content)
            w = self._target(body["FunctionId"])
            name, etag = body["BlobName"], body["ETag"]
        except (ValueError, KeyError, TypeError):
            log.error("Dropping malformed blob trigger message: %s", escape(repr(msg.content)))
            await sdkshortcuts.delete_message(acct.queue, msg)
            return
        if w is None:
            # BlobQueueTriggerExecutor.ExecuteAsync: a function this host does not have
            # (removed or renamed since the message was queued) is logged, then the message
            # is completed. Host ids are per app, so another app's messages never get here.
            log.warning(
                "Blob trigger message %s for blob '%s' names function '%s', which this host "
                "does not have; ignoring it (FunctionNotFound)",
                msg.id, escape(body.get("BlobName")), escape(body.get("FunctionId")),
            )  # fmt: skip
            await sdkshortcuts.delete_message(acct.queue, msg)
            return
        t = w.target
        blob = w.container.get_blob_client(name)
        try:
            # If-Match: a blob deleted or overwritten since is ignored, as
            # BlobQueueTriggerExecutor does (a new version has its own receipt and message);
            # one download returns both the content and the properties the binding needs.
            content, props = await sdkshortcuts.download_if_match(w.container, name, etag)
        except (ResourceNotFoundError, ResourceModifiedError):
            log.info("Blob '%s/%s' (%s) no longer exists in that version; ignored", t.container,
                     escape(name), escape(etag))  # fmt: skip
            await _record(acct, t, name, etag, VERSION_GONE)
            await sdkshortcuts.delete_message(acct.queue, msg)
            return

        async def renew() -> None:  # while the function runs (long functions)
            updated = await acct.queue.update_message(
                msg, visibility_timeout=int(self.options.visibility_timeout)
            )
            msg.pop_receipt = updated.pop_receipt

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
        renewal = asyncio.create_task(keep_invisible(renew, self.options.visibility_timeout))
        try:
            await self.handler(event)
        except Exception as e:
            await _stop(renewal)
            await self._failed(acct, msg, t, name, etag, e)
            return
        finally:
            await _stop(renewal)
        reason = self.skip_reason(t.function_name, name) if self.skip_reason else None
        if reason:
            await _record(acct, t, name, etag, reason)
        await sdkshortcuts.delete_message(acct.queue, msg)

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
        if attempt >= self.options.poison_threshold:
            await acct.poison.send_message(msg.content)
            await sdkshortcuts.delete_message(acct.queue, msg)
            log.error(
                "Blob '%s/%s' is poison: '%s' failed %d times (last error: %s); "
                "moved to queue '%s'",
                t.container, escape(name), t.function_name, attempt, escape(e), POISON_QUEUE,
            )  # fmt: skip
            return
        log.warning(
            "'%s' failed on blob '%s/%s' (attempt %d of %d): %s",
            t.function_name, t.container, escape(name), attempt, self.options.poison_threshold,
            escape(e),
        )  # fmt: skip
        await acct.queue.update_message(
            msg, visibility_timeout=max(1, int(self.options.retry_delay))
        )


async def _record(
    acct: AccountClients, t: BlobTriggerTarget, name: str, etag: str, reason: str
) -> None:
    """Keep a skip record; failing to is logged, never a reason to run the function again."""
    try:
        await acct.skips.record(t.function_id, t.container, name, etag, reason)
    except Exception as e:
        log.warning("Could not record the skip of blob '%s': %s", escape(name), escape(e))


async def _stop(renewal: asyncio.Task[None]) -> None:
    """Cancel the renewal and wait, so no renewal races the message's next update."""
    renewal.cancel()
    await asyncio.gather(renewal, return_exceptions=True)
