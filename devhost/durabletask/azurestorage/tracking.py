"""Instance and history tables (DurableTask.AzureStorage's `AzureTableTrackingStore`).

Nothing here decides semantics: it moves rows with the layout's names and keys, offloading
properties too large for a table column to `{hub}-largemessages` through the MessageManager.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.messagedata import MessageManager
from devhost.durabletask.azurestorage.storage import Row
from devhost.durabletask.model.history import Event, from_row, to_row, utcnow
from devhost.sdkshortcuts import Op, create_entity, find_entity, replace_entity, transaction

PROPERTY_LIMIT = 60 * 1024  # AzureTableTrackingStore.MaxTablePropertySizeInBytes (UTF-16)
LARGE_FIELDS = ("Input", "Result", "Output", "Details", "Reason", "CustomStatus")
BATCH_LIMIT = 100
SENTINEL_ROW_KEY = (
    "sentinel"  # AzureTableTrackingStore.SentinelRowKey  # operations per entity-group transaction
)


class InvalidContinuationToken(ValueError):
    pass


def blob_name(row: Row, prop: str) -> str:
    """Where an oversized property goes, named as AzureTableTrackingStore.GetBlobName does:
    `{partition}/history-{row key}-{EventType or property}-{random:X8}-{property}.json.gz`."""
    kind = row.get("EventType") if isinstance(row.get("EventType"), str) else prop
    return (
        f"{row['PartitionKey']}/history-{row['RowKey']}-{kind}-"
        f"{secrets.randbelow(2**31):08X}-{prop}.json.gz"
    )


def exceeds_property_limit(value: str) -> bool:
    """AzureTableTrackingStore.ExceedsMaxTablePropertySize: more than 60 KB of UTF-16."""
    return len(value.encode("utf-16-le")) > PROPERTY_LIMIT


def history_batches(
    rows: list[Row], pk: str, execution_id: str, start: int, op: str
) -> list[list[Op]]:
    """Entity-group transactions for history rows. Each batch carries the sentinel row
    (AzureTableTrackingStore.UploadHistoryBatch, L1392-1420): created with the execution's
    first rows (replaced, for a ContinueAsNew), merged after that, marked complete with the
    last batch of the checkpoint."""
    per_batch = BATCH_LIMIT - 1
    chunks = [rows[i : i + per_batch] for i in range(0, len(rows), per_batch)] or [[]]
    batches = []
    for n, chunk in enumerate(chunks):
        final = n == len(chunks) - 1
        sentinel: Row = {
            "PartitionKey": pk,
            "RowKey": SENTINEL_ROW_KEY,
            "ExecutionId": execution_id,
            "IsCheckpointComplete": final,
        }
        if final:
            sentinel["CheckpointCompletedTimestamp"] = utcnow()
        first = start == 0 and n == 0
        row_op = "replace" if op in ("replace", "append") else op
        ops: list[Op] = [(row_op, r) for r in chunk]
        ops.append(("replace" if op == "replace" else "create" if first else "update", sentinel))
        batches.append(ops)
    return batches


def _odata_key(instance_id: str) -> str:
    return names.escape_key(instance_id).replace("'", "''")


class TrackingStore:
    def __init__(self, service: TableServiceClient, hub: str, messages: MessageManager) -> None:
        self.hub = hub
        self.service = service
        self.messages = messages
        self.instances: TableClient = service.get_table_client(names.instances_table(hub))
        self.history: TableClient = service.get_table_client(names.history_table(hub))

    async def create(self) -> None:
        for table in (self.instances, self.history):
            with contextlib.suppress(ResourceExistsError):
                await table.create_table()

    async def close(self) -> None:
        await self.instances.close()
        await self.history.close()
        await self.service.close()

    # --- large properties ---------------------------------------------------------------
    async def _offload(self, row: Row) -> Row:
        for field in LARGE_FIELDS:
            value = row.get(field)
            if isinstance(value, str) and exceeds_property_limit(value):
                row[f"{field}BlobName"] = await self.messages.put_large(
                    blob_name(row, field), value
                )
                row[field] = ""
        return row

    async def load_large(self, row: Row) -> Row:
        """Download the row's offloaded properties (for rows read with `reload=False`)."""
        return await self._reload(row)

    async def _reload(self, row: Row) -> Row:
        for field in LARGE_FIELDS:
            blob = row.get(f"{field}BlobName")
            if blob:
                row[field] = await self.messages.get_large(str(blob))
                del row[f"{field}BlobName"]
        return row

    # --- instances ----------------------------------------------------------------------
    async def read_instance(self, instance_id: str, select: list[str] | None = None) -> Row | None:
        """The instance row; with `select`, only those columns (large properties outside the
        selection are not downloaded)."""
        row = await find_entity(self.instances, names.escape_key(instance_id), "", select)
        if row is None:
            return None
        return await self._reload(dict(row))

    async def _instance_row(self, instance_id: str, fields: Row) -> Row:
        key = names.escape_key(instance_id)
        row = {"PartitionKey": key, "RowKey": "", "TaskHubName": self.hub, **fields}
        return await self._offload(row)

    async def write_instance(self, instance_id: str, fields: Row) -> None:
        row = await self._instance_row(instance_id, fields)
        await self.instances.upsert_entity(row, mode=UpdateMode.REPLACE)

    async def update_instance(self, instance_id: str, fields: Row) -> None:
        """Replace an existing row (If-Match: *); upsert if it is gone.

        Same result as `write_instance` for a row that exists, which is every episode's case,
        at half the emulator's cost: Azurite's upsert looks the key up twice by scanning the
        table (query, then insert or update), an update once.
        """
        row = await self._instance_row(instance_id, fields)
        try:
            await replace_entity(self.instances, row)
        except ResourceNotFoundError:
            await self.instances.upsert_entity(row, mode=UpdateMode.REPLACE)

    async def insert_instance(self, instance_id: str, fields: Row) -> bool:
        """Create the row only if there is none (one round trip for a new id); False if taken."""
        try:
            await create_entity(self.instances, await self._instance_row(instance_id, fields))
        except ResourceExistsError:
            return False
        return True

    async def delete_instance(self, instance_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self.instances.delete_entity(names.escape_key(instance_id), "")

    async def query_instances(
        self,
        query: str | None,
        top: int,
        token: str | None,
        select: list[str] | None = None,
        *,
        reload: bool = True,
    ) -> tuple[list[Row], str | None]:
        """One page of instance rows and the opaque token of the next page (only the `select`
        columns when given; with `reload=False` large properties stay as `{Field}BlobName`)."""
        kwargs: dict[str, Any] = {"results_per_page": top}
        if select:
            kwargs["select"] = select
        pages = (
            self.instances.query_entities(query, **kwargs)
            if query
            else self.instances.list_entities(**kwargs)
        )
        try:
            cont = json.loads(base64.b64decode(token, validate=True)) if token else None
        except (ValueError, binascii.Error) as exc:
            raise InvalidContinuationToken(str(exc)) from exc
        pager: Any = pages.by_page(continuation_token=cont)  # AsyncItemPaged's pager
        async for page in pager:
            rows = [await self._reload(dict(r)) if reload else dict(r) async for r in page]
            nxt = pager.continuation_token
            encoded = base64.b64encode(json.dumps(nxt).encode()).decode() if nxt else None
            return rows, encoded
        return [], None

    async def delete_large_messages(self, instance_id: str) -> int:
        """Delete the instance's blobs in `{hub}-largemessages` (prefix: the escaped id), as
        MessageManager.DeleteLargeMessageBlobs does on purge."""
        container = self.messages.container
        prefix = names.escape_key(instance_id) + "/"
        deleted = 0
        try:
            async for blob in container.list_blobs(name_starts_with=prefix):
                with contextlib.suppress(ResourceNotFoundError):
                    await container.delete_blob(blob.name)
                    deleted += 1
        except ResourceNotFoundError:  # no container yet
            return deleted
        return deleted

    # --- history ------------------------------------------------------------------------
    async def read_history(self, instance_id: str) -> tuple[str | None, list[Event]]:
        """(execution id, events in order) of the instance's current execution."""
        query = f"PartitionKey eq '{_odata_key(instance_id)}'"
        rows = [dict(r) async for r in self.history.query_entities(query)]
        # The sentinel row holds no event; its ExecutionId names the current execution
        # (AzureTableTrackingStore.GetHistoryEventsAsync).
        sentinel = next((r for r in rows if r["RowKey"] == SENTINEL_ROW_KEY), None)
        rows = sorted((r for r in rows if r is not sentinel), key=lambda r: str(r["RowKey"]))
        first = sentinel or (rows[0] if rows else None)
        execution = first.get("ExecutionId") if first else None
        if sentinel is not None:
            rows = [r for r in rows if r.get("ExecutionId") == execution]
        return execution, [from_row(await self._reload(r)) for r in rows]

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, events: Iterable[Event]
    ) -> None:
        """New rows with InsertOrReplace, as AzureTableTrackingStore writes history entities: a
        ContinueAsNew's shorter history leaves the old execution's rows past it (replace_history),
        and the next appends must overwrite them. The sentinel row still guards each batch
        (created with the execution's first rows, updated after)."""
        await self._write_history(instance_id, execution_id, start, events, "append")

    async def replace_history(
        self, instance_id: str, execution_id: str, events: list[Event]
    ) -> None:
        """A new execution's rows over the old one's, from sequence number 0 with
        InsertOrReplace, sentinel included (AzureTableTrackingStore.UpdateStateAsync for a
        ContinueAsNew, L1020-1035): the sentinel names the new execution at once, and old rows
        past the new ones stay behind, ignored because their ExecutionId differs."""
        await self._write_history(instance_id, execution_id, 0, events, "replace")

    async def _write_history(
        self, instance_id: str, execution_id: str, start: int, events: Iterable[Event], op: str
    ) -> None:
        pk = names.escape_key(instance_id)
        rows = []
        for i, ev in enumerate(events):
            row = {
                "PartitionKey": pk,
                "RowKey": names.row_key(start + i),
                "ExecutionId": execution_id,
                **to_row(ev),
            }
            rows.append(await self._offload(row))
        for ops in history_batches(rows, pk, execution_id, start, op):
            await transaction(self.history, ops)

    async def delete_history(self, instance_id: str) -> int:
        query = f"PartitionKey eq '{_odata_key(instance_id)}'"
        rows = [
            r async for r in self.history.query_entities(query, select=["PartitionKey", "RowKey"])
        ]
        ops: list[Any] = [
            ("delete", {"PartitionKey": r["PartitionKey"], "RowKey": r["RowKey"]}) for r in rows
        ]
        for i in range(0, len(ops), BATCH_LIMIT):
            await self.history.submit_transaction(ops[i : i + BATCH_LIMIT])
        return len(rows)
