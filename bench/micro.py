"""`python -m bench.micro`: client CPU of the SDK paths devhost replaced, old vs new.

Prints ms of this process's CPU per history batch (5 rows: SDK `submit_transaction` vs
`devhost.sdkshortcuts.insert_batch`), per queue message sent and per receive of 32 (SDK
`send_message` / `receive_messages` vs `devhost.sdkshortcuts`), and per scan of a 10,000-blob
container (SDK `list_blobs` vs `devhost.sdkshortcuts.list_blobs`), against a fresh Azurite.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.data.tables.aio import TableServiceClient
from azure.storage.blob import BlobServiceClient as SyncBlobServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost import sdkshortcuts
from devhost.azurite import Azurite, client_kwargs
from devhost.sdkshortcuts import insert_batch, list_blobs


async def cpu_ms(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    start = time.process_time()
    for i in range(n):
        await op(i)
    return (time.process_time() - start) * 1000 / n


def history_rows(pk: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {"PartitionKey": pk, "RowKey": f"{k:016X}", "ExecutionId": "e" * 32,
         "EventType": "TaskScheduled", "Name": "ExtractMetadata", "Input": '{"x": 1}' * 20,
         "EventId": k, "IsPlayed": False, "_Timestamp": now}
        for k in range(5)
    ]  # fmt: skip


async def main(azurite: Azurite) -> None:
    cs = azurite.connection_string
    async with TableServiceClient.from_connection_string(cs, **client_kwargs(cs)) as tables:
        table = tables.get_table_client("MicroHistory")
        await table.create_table()
        sdk = await cpu_ms(
            300, lambda i: table.submit_transaction([("create", r) for r in history_rows(f"s{i}")])
        )
        mine = await cpu_ms(300, lambda i: insert_batch(table, history_rows(f"d{i}")))
        print(f"history batch of 5 rows: SDK {sdk:.2f} ms CPU, direct {mine:.2f} ms CPU")
        await table.close()

    async with QueueServiceClient.from_connection_string(cs, **client_kwargs(cs)) as queues:
        q = queues.get_queue_client("micro-queue")
        await q.create_queue()
        body = '{"TaskMessage": "' + "x" * 600 + '"}'  # a MessageData-sized body
        sdk = await cpu_ms(320, lambda i: q.send_message(body))
        mine = await cpu_ms(320, lambda i: sdkshortcuts.send_message(q, body))

        async def sdk_receive(_: int) -> None:
            got = [m async for m in q.receive_messages(messages_per_page=32, max_messages=32)]
            assert len(got) == 32

        async def lean_receive(_: int) -> None:
            assert len(await sdkshortcuts.receive_messages(q, 32, 30)) == 32

        sdk_r = await cpu_ms(10, sdk_receive)
        mine_r = await cpu_ms(10, lean_receive)
        print(
            f"queue message: send SDK {sdk:.2f} / shortcut {mine:.2f} ms CPU; receive of 32 "
            f"SDK {sdk_r:.2f} / shortcut {mine_r:.2f} ms CPU"
        )

    sync = SyncBlobServiceClient.from_connection_string(cs).get_container_client("micro")
    sync.create_container()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: sync.upload_blob(f"old/{i:06d}.png", b"x"), range(10_000)))
    async with BlobServiceClient.from_connection_string(cs, **client_kwargs(cs)) as blobs:
        container = blobs.get_container_client("micro")

        async def sdk_scan(_: int) -> None:
            assert sum([1 async for _ in container.list_blobs()]) == 10_000

        async def lean_scan(_: int) -> None:
            assert sum([1 async for _ in list_blobs(container)]) == 10_000

        sdk = await cpu_ms(3, sdk_scan)
        t0 = time.perf_counter()
        mine = await cpu_ms(3, lean_scan)
        wall = (time.perf_counter() - t0) * 1000 / 3
        print(
            f"scan of 10,000 blobs: SDK {sdk:.0f} ms CPU, lean {mine:.0f} ms CPU "
            f"({wall:.0f} ms wall, the rest is Azurite's)"
        )


if __name__ == "__main__":
    with Azurite(location=Path(tempfile.mkdtemp(prefix="micro-"))) as server:
        asyncio.run(main(server))
