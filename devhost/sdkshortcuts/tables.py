"""Table requests: `$batch` (history appends) and the Instances row's point reads and writes.

azure-data-tables builds and parses a `$batch`'s multipart body with the stdlib `email`
package, ~2.5 ms CPU per 5-row batch; here the same body (layout captured from the SDK) is
formatted directly: ~0.5 ms. The single-entity calls are the SDK's requests (same verb, URL,
headers, JSON body), minus its pipeline.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from devhost.sdkshortcuts import _private
from devhost.sdkshortcuts._private import Request, entity_json, fell_back, table_base_url

_PART_STATUS = re.compile(rb"^HTTP/1\.1 (\d{3})", re.MULTILINE)


def _key(value: str) -> str:
    return quote(value.replace("'", "''"), safe="")


def _entity_path(table: TableClient, pk: str, rk: str) -> str:
    return (
        f"{table_base_url(table)}/{table.table_name}(PartitionKey='{_key(pk)}',RowKey='{_key(rk)}')"
    )


Op = tuple[str, Mapping[str, Any]]  # ("create" | "upsert" | "update" | "replace", entity), as
# the SDK's submit_transaction takes them; upsert and update merge, update requires the row
# (If-Match: *); replace is InsertOrReplace (PUT without If-Match)


def batch_body(table_url: str, version: str, ops: Sequence[Op]) -> tuple[str, bytes]:
    """(batch boundary, body) of one changeset, laid out as the SDK lays it out."""
    batch = f"batch_{uuid.uuid4()}"
    changeset = f"changeset_{uuid.uuid4()}"
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
    for n, (op, entity) in enumerate(ops):
        payload = entity_json(entity)
        extra = ""
        if op == "create":
            line, accept = f"POST {table_url}", "application/json;odata=minimalmetadata"
        else:
            verb = "PUT" if op == "replace" else "PATCH"
            line, accept = (
                f"{verb} {table_url}(PartitionKey='{_key(entity['PartitionKey'])}',"
                f"RowKey='{_key(entity['RowKey'])}')",
                "application/json",
            )
            extra = "If-Match: *\r\n" if op == "update" else ""
        parts.append(
            f"--{changeset}\r\n"
            "Content-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: {n}\r\n\r\n"
            f"{line} HTTP/1.1\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload.encode('utf-8'))}\r\n"
            f"x-ms-version: {version}\r\n"
            "DataServiceVersion: 3.0\r\n"
            f"{extra}"
            f"Accept: {accept}\r\n\r\n"
            f"{payload}\r\n"
        )
    parts.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n")
    return batch, "".join(parts).encode("utf-8")


def all_parts_succeeded(body: bytes, expected: int) -> bool:
    statuses = [int(s) for s in _PART_STATUS.findall(body)]
    return len(statuses) == expected and all(200 <= s < 300 for s in statuses)


async def _batch_shortcut(table: TableClient, ops: Sequence[Op]) -> bool:
    """Send the batch directly; True only when every operation succeeded."""
    base = table_base_url(table)
    boundary, body = batch_body(f"{base}/{table.table_name}", table.api_version, ops)
    request = Request(
        "POST",
        f"{base}/$batch",
        headers={
            "x-ms-version": table.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={boundary}",
            "Accept": "application/json",
        },
        content=body,
    )
    reply = await _private.send(table, request)
    return reply.status == 202 and all_parts_succeeded(reply.body, len(ops))


async def transaction(table: TableClient, ops: Sequence[Op]) -> None:
    """One entity-group transaction. Re-sending a failed one through the SDK is safe: a failed
    transaction changes nothing, so the re-send fails the same way (an insert of an existing
    row) or succeeds (after a transient fault) exactly as the SDK's own retry would."""
    if not ops:
        return
    if _private.TABLES_SHORTCUT:
        try:
            if await _batch_shortcut(table, ops):
                return
        except Exception as exc:
            fell_back("table $batch", exc)
    await table.submit_transaction(
        [
            ("upsert", dict(e), {"mode": UpdateMode.REPLACE}) if op == "replace" else (op, dict(e))
            for op, e in ops
        ]
    )


async def insert_batch(table: TableClient, entities: Sequence[Mapping[str, Any]]) -> None:
    """Insert up to 100 new entities of one partition atomically (fails if any exists)."""
    await transaction(table, [("create", e) for e in entities])


async def upsert_batch(table: TableClient, entities: Sequence[Mapping[str, Any]]) -> None:
    """Merge-upsert up to 100 entities of one partition atomically."""
    await transaction(table, [("upsert", e) for e in entities])


# --- one entity -----------------------------------------------------------------------------
# Each sends the public call's request; any other outcome than its success (a missing or
# existing row included) is the public call's to report, so it is made again by the SDK.


def _headers(table: TableClient, **extra: str) -> dict[str, str]:
    return {"x-ms-version": table.api_version, "DataServiceVersion": "3.0", **extra}


async def find_entity(
    table: TableClient, pk: str, rk: str, select: Sequence[str] | None = None
) -> Mapping[str, Any] | None:
    """Query Entity (`get_entity`): the row with its typed values and metadata, or None where
    `get_entity` raises ResourceNotFoundError (a 404: no such row, or no such table). A status
    check of an id not started yet is a miss: it must stay one request."""
    if _private.TABLES_SHORTCUT:
        try:
            url = _entity_path(table, pk, rk)
            if select:
                url += f"?$select={quote(','.join(select), safe=',')}"
            accept = "application/json;odata=minimalmetadata"
            request = Request("GET", url, headers=_headers(table, Accept=accept))
            reply = await _private.send(table, request)
            if reply.status == 200:
                return _private.entity_from_json(reply.body)
            if reply.status == 404:
                return None
        except Exception as exc:
            fell_back("Query Entity", exc)
    try:
        return await table.get_entity(pk, rk, select=list(select) if select else None)
    except ResourceNotFoundError:
        return None


async def _write(
    table: TableClient, what: str, method: str, url: str, entity: Any, **h: str
) -> bool:
    if not _private.TABLES_SHORTCUT:
        return False
    try:
        headers = _headers(
            table,
            Accept="application/json;odata=minimalmetadata",
            **{"Content-Type": "application/json;odata=nometadata"},
            **h,
        )
        request = Request(method, url, headers=headers, content=entity_json(entity).encode())
        return (await _private.send(table, request)).status == 204
    except Exception as exc:
        fell_back(what, exc)
        return False


async def create_entity(table: TableClient, entity: Mapping[str, Any]) -> None:
    """Insert Entity (`create_entity`); ResourceExistsError when the row is there."""
    url = f"{table_base_url(table)}/{table.table_name}"
    if not await _write(table, "Insert Entity", "POST", url, entity, Prefer="return-no-content"):
        await table.create_entity(dict(entity))


async def replace_entity(table: TableClient, entity: Mapping[str, Any]) -> None:
    """Update Entity, replace mode, If-Match: * (`update_entity(mode=REPLACE)`);
    ResourceNotFoundError when the row is gone."""
    url = _entity_path(table, entity["PartitionKey"], entity["RowKey"])
    if not await _write(table, "Update Entity", "PUT", url, entity, **{"If-Match": "*"}):
        await table.update_entity(dict(entity), mode=UpdateMode.REPLACE)
