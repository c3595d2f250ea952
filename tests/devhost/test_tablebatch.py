"""The hand-built history batch against a real Azurite: same rows as the SDK, same errors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableTransactionError
from azure.data.tables.aio import TableServiceClient

from devhost.azurite import Azurite, client_kwargs
from devhost.durable.tablebatch import all_parts_succeeded, insert_batch, upsert_batch


def _rows(pk: str, n: int) -> list[dict[str, Any]]:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return [
        {
            "PartitionKey": pk,
            "RowKey": f"{k:016X}",
            "EventType": "TaskScheduled",
            "Name": "Extract é ☃",
            "Input": '{"quote": "it\'s"}' * (k + 1),
            "TaskScheduledId": k,
            "IsPlayed": k % 2 == 0,
            "Ratio": 0.5,
            "_Timestamp": when,
        }
        for k in range(n)
    ]


async def _with_table(azurite: Azurite, body: Any) -> Any:
    cs = azurite.connection_string
    async with TableServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
        table = svc.get_table_client(f"batch{uuid.uuid4().hex[:12]}")
        await table.create_table()
        try:
            return await body(table)
        finally:
            await table.delete_table()
            await table.close()


def test_rows_read_back_identical_to_sdk_written_rows(azurite: Azurite) -> None:
    async def body(table: Any) -> None:
        await upsert_batch(table, _rows("fast'key é", 7))
        await table.submit_transaction([("upsert", r) for r in _rows("sdk'key é", 7)])
        fast = [dict(r) async for r in table.query_entities("PartitionKey eq 'fast''key é'")]
        sdk = [dict(r) async for r in table.query_entities("PartitionKey eq 'sdk''key é'")]
        assert len(fast) == 7
        for a, b in zip(fast, sdk, strict=True):
            assert a.pop("PartitionKey") == "fast'key é"
            assert b.pop("PartitionKey") == "sdk'key é"
            assert a == b
        # merge semantics: a second upsert keeps columns it does not mention
        await upsert_batch(table, [{"PartitionKey": "fast'key é", "RowKey": fast[0]["RowKey"]}])
        again = await table.get_entity("fast'key é", fast[0]["RowKey"])
        assert again["Name"] == "Extract é ☃"

    asyncio.run(_with_table(azurite, body))


def test_a_failing_batch_raises_the_sdk_error_and_writes_nothing(azurite: Azurite) -> None:
    async def body(table: Any) -> None:
        rows = _rows("p1", 3)
        rows[2]["RowKey"] = "bad/key"  # '/' is not allowed in keys: the whole batch fails
        with pytest.raises(TableTransactionError):
            await upsert_batch(table, rows)
        assert [r async for r in table.query_entities("PartitionKey eq 'p1'")] == []

    asyncio.run(_with_table(azurite, body))


def test_insert_batch_writes_new_rows_and_refuses_existing_ones(azurite: Azurite) -> None:
    async def body(table: Any) -> None:
        await insert_batch(table, _rows("h", 3))
        await table.submit_transaction([("create", r) for r in _rows("s", 3)])
        mine = [dict(r) async for r in table.query_entities("PartitionKey eq 'h'")]
        sdk = [dict(r) async for r in table.query_entities("PartitionKey eq 's'")]
        assert [{**r, "PartitionKey": ""} for r in mine] == [{**r, "PartitionKey": ""} for r in sdk]
        # rows 2..4: row 2 exists, so nothing of the batch is written
        again = _rows("h", 5)[2:]
        with pytest.raises(TableTransactionError):
            await insert_batch(table, again)
        keys = [r["RowKey"] async for r in table.query_entities("PartitionKey eq 'h'")]
        assert keys == [f"{k:016X}" for k in range(3)]

    asyncio.run(_with_table(azurite, body))


def test_part_status_parsing() -> None:
    ok = b"--b\r\nHTTP/1.1 204 No Content\r\n\r\n--b\r\nHTTP/1.1 204 No Content\r\n--b--"
    assert all_parts_succeeded(ok, 2)
    assert not all_parts_succeeded(ok, 3)  # a missing part is not success
    bad = b"--b\r\nHTTP/1.1 400 Bad Request\r\n\r\n{}\r\n--b--"
    assert not all_parts_succeeded(bad, 1)
