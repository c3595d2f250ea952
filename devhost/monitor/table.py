"""The task hub's `{Hub}Instances` table read directly (local mode only): a projection of the
columns the overview needs, all rows or only those updated since a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azure.data.tables.aio import TableClient

from devhost.durabletask.azurestorage.names import unescape_key
from devhost.monitor.index import InstanceIndex, Summary

COLUMNS = ["PartitionKey", "Name", "RuntimeStatus", "CreatedTime", "LastUpdatedTime", "Input",
           "Output"]  # fmt: skip


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return 0.0


class TableInstances:
    def __init__(self, connection_string: str, hub: str) -> None:
        kwargs: dict[str, Any] = {}
        if "127.0.0.1" in connection_string or "localhost" in connection_string.lower():
            kwargs["use_env_settings"] = False
        self.client = TableClient.from_connection_string(
            connection_string, f"{hub}Instances", **kwargs
        )

    async def scan(self, index: InstanceIndex, since: float | None) -> float | None:
        """Upsert rows (updated at or after `since`) into `index`; the newest update time."""
        query = None
        if since is not None:
            stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            query = f"LastUpdatedTime ge datetime'{stamp}'"
        newest: float | None = None
        rows = (
            self.client.query_entities(query, select=COLUMNS, results_per_page=1000)
            if query
            else self.client.list_entities(select=COLUMNS, results_per_page=1000)
        )
        async for row in rows:
            key = str(row.get("PartitionKey", ""))
            if not key or row.get("RuntimeStatus") is None:
                continue
            updated = _epoch(row.get("LastUpdatedTime"))
            newest = updated if newest is None else max(newest, updated)
            index.upsert(
                Summary.build(
                    view=index.view,
                    instance_id=unescape_key(key),
                    name=str(row.get("Name") or ""),
                    status=str(row.get("RuntimeStatus")),
                    created=_epoch(row.get("CreatedTime")),
                    updated=updated,
                    input_value=row.get("Input"),
                    output_value=row.get("Output"),
                )
            )
        return newest

    async def close(self) -> None:
        await self.client.close()
