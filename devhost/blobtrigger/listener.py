"""Blob trigger by container scan, with receipts and a durable work queue like the real host.

Why a queue: detection and execution are split as in the WebJobs SDK. The scanner
(scanner.py) claims each new blob version with a receipt and enqueues a message on
`azure-webjobs-blobtrigger-{hostId}`; the executor (executor.py) runs the function from that
queue, so pending work survives a SIGKILL. This module only wires them: one set of clients
per storage account, one scan loop, one work loop per account.
"""

from __future__ import annotations

import asyncio
import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from devhost.azurite import client_kwargs
from devhost.blobtrigger.executor import BlobTriggerExecutor, ExecutorOptions
from devhost.blobtrigger.paths import parse_blob_path
from devhost.blobtrigger.receipts import HOSTS_CONTAINER, ReceiptStore
from devhost.blobtrigger.scanner import ContainerScanner, scan_loop
from devhost.blobtrigger.skips import SkipLog, SkipReason
from devhost.blobtrigger.targets import (
    POISON_QUEUE,
    AccountClients,
    WatchedContainer,
    host_queue_name,
)
from devhost.contracts import BlobHandler, BlobTriggerTarget
from devhost.queuepump import BackoffPoller


class BlobTriggerListener:
    """Watches the targets' containers until `stop()`; `run()` owns every client it opens."""

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
        skip_reason: SkipReason | None = None,
    ) -> None:
        self.targets = targets
        self.handler = handler
        self.skip_reason = skip_reason  # the app's: why its function started nothing
        self.host_id = host_id
        self.options = ExecutorOptions(
            poll_interval=poll_interval,
            poison_threshold=poison_threshold,
            max_concurrency=max_concurrency,
            retry_delay=retry_delay,
            visibility_timeout=visibility_timeout,
        )
        self._accounts: dict[str, AccountClients] = {}
        self._scanners: list[ContainerScanner] = []
        self._stopping = asyncio.Event()
        self._executor: BlobTriggerExecutor | None = None

    async def _open(self) -> None:
        watched: list[WatchedContainer] = []
        for t in self.targets:
            acct = self._accounts.get(t.connection_string)
            if acct is None:
                acct = await self._open_account(t.connection_string)
                self._accounts[t.connection_string] = acct
            path = parse_blob_path(f"{t.container}/{t.blob_pattern}")
            container = acct.service.get_container_client(t.container)
            with contextlib.suppress(ResourceExistsError):
                await container.create_container()  # private; the host creates it too
            w = WatchedContainer(target=t, path=path, container=container, account=acct)
            watched.append(w)
            self._scanners.append(ContainerScanner(w, self.host_id))
        self._executor = BlobTriggerExecutor(
            watched, self.handler, host_id=self.host_id, options=self.options,
            skip_reason=self.skip_reason,
        )  # fmt: skip

    async def _open_account(self, connection_string: str) -> AccountClients:
        opts = client_kwargs(connection_string)
        service = BlobServiceClient.from_connection_string(connection_string, **opts)
        qargs = {
            "message_encode_policy": BinaryBase64EncodePolicy(),
            "message_decode_policy": BinaryBase64DecodePolicy(),
            **opts,
        }
        queue_name = host_queue_name(self.host_id)
        acct = AccountClients(
            service=service,
            queue=QueueClient.from_connection_string(connection_string, queue_name, **qargs),
            poison=QueueClient.from_connection_string(connection_string, POISON_QUEUE, **qargs),
            receipts=ReceiptStore(service.get_container_client(HOSTS_CONTAINER)),
            poller=BackoffPoller(queue_name, ceiling=self.options.poll_interval),
            skips=SkipLog(service.get_container_client(HOSTS_CONTAINER), self.host_id),
        )
        await acct.receipts.ensure_container()
        for q in (acct.queue, acct.poison):
            with contextlib.suppress(ResourceExistsError):
                await q.create_queue()
        return acct

    async def run(self) -> None:
        await self._open()
        assert self._executor is not None
        loops = [scan_loop(self._scanners, self.options.poll_interval, self._stopping)] + [
            self._executor.work_loop(a, self._stopping) for a in self._accounts.values()
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            await self._close()

    async def stop(self) -> None:
        self._stopping.set()
        for acct in self._accounts.values():
            acct.poller.wake()

    async def _close(self) -> None:
        if self._executor is not None:
            await self._executor.close()
        for acct in self._accounts.values():
            await acct.queue.close()
            await acct.poison.close()
            await acct.service.close()
