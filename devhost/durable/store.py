"""Task-hub storage: instance and history tables, control/work-item queues, large messages.

Writes go in the order DurableTask.AzureStorage uses (see engine.py): nothing here decides
semantics, it only moves rows, messages and blobs with the layout's names.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import client_kwargs
from devhost.durable import names
from devhost.durable.events import from_row, to_row
from devhost.sdkshortcuts import insert_batch

PROPERTY_LIMIT = 30_000  # characters; a table string property holds 64 KiB of UTF-16
QUEUE_LIMIT = 45_000  # bytes of JSON before a message body moves to a blob (64 KiB, base64)
LARGE_FIELDS = ("Input", "Result", "Output", "Details", "Reason", "CustomStatus")


@dataclass
class Received:
    queue: str
    message: QueueMessage
    body: dict[str, Any]


class TaskHubStore:
    def __init__(self, connection_string: str, hub: str):
        self.hub = hub
        opts = client_kwargs(connection_string)
        self.tables = TableServiceClient.from_connection_string(connection_string, **opts)
        self.queues = QueueServiceClient.from_connection_string(connection_string, **opts)
        self.blobs = BlobServiceClient.from_connection_string(connection_string, **opts)
        self.instances = self.tables.get_table_client(names.instances_table(hub))
        self.history = self.tables.get_table_client(names.history_table(hub))
        self.large = self.blobs.get_container_client(names.largemessages_container(hub))
        self.control_names = [names.control_queue(hub, p) for p in range(names.PARTITIONS)]
        self.workitems_name = names.workitem_queue(hub)
        self._queue_clients: dict[str, Any] = {}

    async def create(self) -> None:
        for table in (self.instances, self.history):
            with contextlib.suppress(ResourceExistsError):
                await table.create_table()
        for name in [*self.control_names, self.workitems_name]:
            with contextlib.suppress(ResourceExistsError):
                await self.queue(name).create_queue()
        with contextlib.suppress(ResourceExistsError):
            await self.large.create_container()

    async def close(self) -> None:
        for client in [*self._queue_clients.values(), self.instances, self.history]:
            await client.close()
        await self.tables.close()
        await self.queues.close()
        await self.blobs.close()

    # --- large values -------------------------------------------------------------------
    async def _put_large(self, prefix: str, text: str) -> str:
        name = f"{prefix}/{uuid.uuid4().hex}.json.gz"
        await self.large.upload_blob(name, gzip.compress(text.encode("utf-8")), overwrite=True)
        return name

    async def _get_large(self, name: str) -> str:
        data = await (await self.large.download_blob(name)).readall()
        return gzip.decompress(data).decode("utf-8")

    async def _offload(self, prefix: str, row: dict[str, Any]) -> dict[str, Any]:
        for field in LARGE_FIELDS:
            value = row.get(field)
            if isinstance(value, str) and len(value) > PROPERTY_LIMIT:
                row[f"{field}BlobName"] = await self._put_large(prefix, value)
                row[field] = ""
        return row

    async def _reload(self, row: dict[str, Any]) -> dict[str, Any]:
        for field in LARGE_FIELDS:
            blob = row.get(f"{field}BlobName")
            if blob:
                row[field] = await self._get_large(blob)
                del row[f"{field}BlobName"]
        return row

    # --- instances ----------------------------------------------------------------------
    async def read_instance(self, instance_id: str) -> dict[str, Any] | None:
        try:
            row = await self.instances.get_entity(names.escape_key(instance_id), "")
        except ResourceNotFoundError:
            return None
        return await self._reload(dict(row))

    async def _instance_row(self, instance_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        row = {
            "PartitionKey": names.escape_key(instance_id),
            "RowKey": "",
            "TaskHubName": self.hub,
            **fields,
        }
        return await self._offload(names.escape_key(instance_id), row)

    async def write_instance(self, instance_id: str, fields: dict[str, Any]) -> None:
        await self.instances.upsert_entity(
            await self._instance_row(instance_id, fields), mode=UpdateMode.REPLACE
        )

    async def update_instance(self, instance_id: str, fields: dict[str, Any]) -> None:
        """Replace an existing row (If-Match: *); upsert if it is gone.

        Same result as `write_instance` for a row that exists, which is every episode's case,
        at half the emulator's cost: Azurite's upsert looks the key up twice by scanning the
        table (query, then insert or update), an update once.
        """
        row = await self._instance_row(instance_id, fields)
        try:
            await self.instances.update_entity(row, mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:
            await self.instances.upsert_entity(row, mode=UpdateMode.REPLACE)

    async def insert_instance(self, instance_id: str, fields: dict[str, Any]) -> bool:
        """Create the row only if there is none (one round trip for a new id); False if taken."""
        try:
            await self.instances.create_entity(await self._instance_row(instance_id, fields))
        except ResourceExistsError:
            return False
        return True

    async def delete_instance(self, instance_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self.instances.delete_entity(names.escape_key(instance_id), "")

    async def query_instances(
        self, query: str | None, top: int, token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {"results_per_page": top}
        pages = (
            self.instances.query_entities(query, **kwargs)
            if query
            else self.instances.list_entities(**kwargs)
        )
        cont = json.loads(base64.b64decode(token)) if token else None
        pager = pages.by_page(continuation_token=cont)
        async for page in pager:
            rows = [await self._reload(dict(r)) async for r in page]
            nxt = pager.continuation_token
            encoded = base64.b64encode(json.dumps(nxt).encode()).decode() if nxt else None
            return rows, encoded
        return [], None

    # --- history ------------------------------------------------------------------------
    async def read_history(self, instance_id: str) -> tuple[str | None, list[dict[str, Any]]]:
        """(execution id, events in order) of the instance's current execution."""
        pk = names.escape_key(instance_id).replace("'", "''")
        rows = [dict(r) async for r in self.history.query_entities(f"PartitionKey eq '{pk}'")]
        rows.sort(key=lambda r: r["RowKey"])
        execution = rows[0].get("ExecutionId") if rows else None
        return execution, [from_row(await self._reload(r)) for r in rows]

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, events: Iterable[dict[str, Any]]
    ) -> None:
        """Insert new rows (as DurableTask.AzureStorage does): a row key that already exists
        fails the whole batch, which the engine treats like a crash (reload and replay)."""
        pk = names.escape_key(instance_id)
        rows = []
        for i, ev in enumerate(events):
            row = {
                "PartitionKey": pk,
                "RowKey": names.row_key(start + i),
                "ExecutionId": execution_id,
                **to_row(ev),
            }
            rows.append(await self._offload(pk, row))
        for i in range(0, len(rows), 100):  # a batch is atomic, <= 100 ops, one partition
            await insert_batch(self.history, rows[i : i + 100])

    async def delete_history(self, instance_id: str) -> int:
        pk = names.escape_key(instance_id).replace("'", "''")
        rows = [
            r
            async for r in self.history.query_entities(
                f"PartitionKey eq '{pk}'", select=["PartitionKey", "RowKey"]
            )
        ]
        ops = [("delete", {"PartitionKey": r["PartitionKey"], "RowKey": r["RowKey"]}) for r in rows]
        for i in range(0, len(ops), 100):
            await self.history.submit_transaction(ops[i : i + 100])
        return len(rows)

    # --- queues -------------------------------------------------------------------------
    def queue(self, name: str) -> Any:
        client = self._queue_clients.get(name)
        if client is None:
            client = self._queue_clients[name] = self.queues.get_queue_client(name)
        return client

    def control_for(self, instance_id: str) -> str:
        return self.control_names[names.partition_of(instance_id)]

    async def send(self, queue: str, body: dict[str, Any], delay: float = 0) -> None:
        text = json.dumps(body)
        if len(text.encode("utf-8")) > QUEUE_LIMIT:
            text = json.dumps({"largeMessageBlob": await self._put_large("messages", text)})
        await self.queue(queue).send_message(
            text, visibility_timeout=math.ceil(max(0, min(delay, 6 * 86400))) or None
        )

    async def receive(self, queue: str, count: int, visibility: int) -> list[Received]:
        out = []
        async for msg in self.queue(queue).receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=visibility
        ):
            try:
                body = json.loads(msg.content)
                if "largeMessageBlob" in body:
                    body = json.loads(await self._get_large(body["largeMessageBlob"]))
            except (ValueError, ResourceNotFoundError):
                body = {}
            out.append(Received(queue, msg, body))
        return out

    async def delete(self, rec: Received) -> None:
        # Already gone: its visibility expired and another receive took and deleted it.
        with contextlib.suppress(ResourceNotFoundError):
            await self.queue(rec.queue).delete_message(rec.message)

    async def hide(self, rec: Received, seconds: int) -> None:
        updated = await self.queue(rec.queue).update_message(
            rec.message, visibility_timeout=seconds
        )
        rec.message.pop_receipt = updated.pop_receipt
