"""Every use of a private Azure SDK internal in devhost, each with the public call behind it.

Three SDK paths cost devhost most of its client CPU under load (bench.micro re-measures them):
- table `$batch` (history appends): azure-data-tables builds and parses the multipart body
  with the stdlib `email` package, ~2.5 ms CPU per 5-row batch. Here the same body (layout
  captured from the SDK) is formatted directly and sent through the table client's own
  pipeline (authentication, retries, transport stay the SDK's): ~0.5 ms.
- container listing (blob-trigger scan): `list_blobs` builds a full BlobProperties model per
  blob, ~145 µs each; the scan needs name, ETag and Last-Modified, read here from the List
  Blobs XML with ElementTree through the container client's pipeline: ~10x less CPU.
- Durable queue messages: the generated client serialises and deserialises each through its
  model layer, ~0.8 ms of a ~2.3 ms send and ~2.5 ms of a ~4.5 ms receive of 32. Here the same
  requests (URL, query, headers, XML body) go through the queue client's own pipeline and the
  reply is read with ElementTree; only clients with no encode/decode policy or encryption.

Why it is safe: a shortcut runs only against the SDK versions it was written for (the pins
below, which tests/devhost/test_sdkshortcuts.py checks against requirements*.txt), and any
error of a shortcut, of whatever type, falls back to the public call, so a changed internal
costs speed, never a wrong result. Only success is decoded by a shortcut; failures surface as
the public call's own exceptions.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from azure.storage.blob.aio import ContainerClient
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

log = logging.getLogger("devhost.sdkshortcuts")

# The versions the shortcuts were written against (requirements.txt, requirements-devhost.txt).
PINNED = {
    "azure-data-tables": "12.7.0",
    "azure-storage-blob": "12.31.1",
    "azure-storage-queue": "12.18.1",
}
PAGE_SIZE = 5000  # List Blobs' maximum


def versions_match(pins: Mapping[str, str]) -> bool:
    """True when every distribution is installed at exactly its pinned version."""
    try:
        return all(importlib.metadata.version(d) == v for d, v in pins.items())
    except importlib.metadata.PackageNotFoundError:
        return False


try:
    from azure.data.tables._serialize import _add_entity_properties

    _SERIALIZER = True
except ImportError:  # pragma: no cover - only with another azure-data-tables
    _SERIALIZER = False

# Read at each call, so a test can turn a shortcut off.
TABLES_SHORTCUT = _SERIALIZER and versions_match({"azure-data-tables": PINNED["azure-data-tables"]})
BLOBS_SHORTCUT = versions_match({"azure-storage-blob": PINNED["azure-storage-blob"]})
QUEUES_SHORTCUT = versions_match({"azure-storage-queue": PINNED["azure-storage-queue"]})

_warned: set[str] = set()


def _fell_back(what: str, exc: Exception) -> None:
    """Warn once per shortcut that broke (it would otherwise log on every call); a service
    error is not a broken shortcut: the public call reports it."""
    broken = not isinstance(exc, HttpResponseError) and what not in _warned
    level = logging.WARNING if broken else logging.DEBUG
    if broken:
        _warned.add(what)
    log.log(level, "%s shortcut failed (%r); using the public SDK call", what, exc)


# --- private calls: the only lines that touch SDK internals ----------------------------------


async def _table_send(table: TableClient, request: HttpRequest) -> AsyncHttpResponse:
    # stream=True: the pipeline's content decoder would reject a multipart body
    response: AsyncHttpResponse = await table._client.send_request(request, stream=True)
    return response


def _table_base_url(table: TableClient) -> str:
    return f"{table.scheme}://{table._primary_hostname}"  # the URL the SDK itself uses


def _entity_json(entity: Mapping[str, Any]) -> str:
    return json.dumps(_add_entity_properties(entity))


async def _blob_send(container: ContainerClient, request: HttpRequest) -> AsyncHttpResponse:
    response: AsyncHttpResponse = await container._client._client.send_request(request, stream=True)
    return response


async def _queue_send(queue: QueueClient, request: HttpRequest) -> AsyncHttpResponse:
    response: AsyncHttpResponse = await queue._client._client.send_request(request, stream=True)
    return response


def _plain_messages(queue: QueueClient) -> bool:
    """Message text travels as is: no encode/decode policy, no client-side encryption."""
    return (
        type(queue._message_encode_policy).__name__ == "NoEncodePolicy"
        and type(queue._message_decode_policy).__name__ == "NoDecodePolicy"
        and queue.key_encryption_key is None
        and queue.key_resolver_function is None
    )


# --- table $batch ---------------------------------------------------------------------------

_PART_STATUS = re.compile(rb"^HTTP/1\.1 (\d{3})", re.MULTILINE)


def _key(value: str) -> str:
    return quote(value.replace("'", "''"), safe="")


Op = tuple[str, Mapping[str, Any]]  # ("create" | "upsert" | "update" | "replace", entity), as
# the SDK's submit_transaction takes them; upsert and update merge, update requires the row
# (If-Match: *); replace is InsertOrReplace (PUT without If-Match)


def batch_body(table_url: str, version: str, ops: Sequence[Op]) -> tuple[str, bytes]:
    """(batch boundary, body) of one changeset, laid out as the SDK lays it out."""
    batch = f"batch_{uuid.uuid4()}"
    changeset = f"changeset_{uuid.uuid4()}"
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
    for n, (op, entity) in enumerate(ops):
        payload = _entity_json(entity)
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
    base = _table_base_url(table)
    boundary, body = batch_body(f"{base}/{table.table_name}", table.api_version, ops)
    request = HttpRequest(
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
    response = await _table_send(table, request)
    content = await response.read()
    return response.status_code == 202 and all_parts_succeeded(content, len(ops))


async def transaction(table: TableClient, ops: Sequence[Op]) -> None:
    """One entity-group transaction. Re-sending a failed one through the SDK is safe: a failed
    transaction changes nothing, so the re-send fails the same way (an insert of an existing
    row) or succeeds (after a transient fault) exactly as the SDK's own retry would."""
    if not ops:
        return
    if TABLES_SHORTCUT:
        try:
            if await _batch_shortcut(table, ops):
                return
        except Exception as exc:
            _fell_back("table $batch", exc)
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


# --- container listing ----------------------------------------------------------------------


@dataclass(frozen=True)
class ListedBlob:
    name: str
    etag: str
    last_modified: datetime


@functools.lru_cache(maxsize=4096)
def _http_date(text: str) -> datetime:
    """Last-Modified has one-second resolution: many blobs share a value, parse each once."""
    return parsedate_to_datetime(text)


def parse_page(body: bytes) -> tuple[list[ListedBlob], str]:
    """(blobs, next marker) of one List Blobs response."""
    root = ET.fromstring(body)  # noqa: S314 - the storage service's own response
    blobs = []
    for blob in root.iter("Blob"):
        name_el = blob.find("Name")
        props = blob.find("Properties")
        if name_el is None or props is None:
            continue
        name = name_el.text or ""
        if name_el.get("Encoded") == "true":  # names with characters XML cannot carry
            name = unquote(name)
        blobs.append(
            ListedBlob(
                name=name,
                etag=props.findtext("Etag") or "",
                last_modified=_http_date(props.findtext("Last-Modified") or ""),
            )
        )
    return blobs, root.findtext("NextMarker") or ""


async def _list_page(
    container: ContainerClient, marker: str, page_size: int
) -> tuple[list[ListedBlob], str]:
    url = container.url
    query = f"restype=container&comp=list&maxresults={page_size}"
    if marker:
        query += f"&marker={quote(marker, safe='')}"
    request = HttpRequest(
        "GET",
        f"{url}{'&' if '?' in url else '?'}{query}",
        headers={"x-ms-version": container.api_version},
    )
    response = await _blob_send(container, request)
    body = await response.read()
    if response.status_code == 404:
        raise ResourceNotFoundError(message=f"container {container.container_name} not found")
    if response.status_code != 200:
        raise HttpResponseError(
            message=f"List Blobs returned {response.status_code}: {body[:300]!r}"
        )
    return parse_page(body)


async def list_blobs(
    container: ContainerClient, page_size: int = PAGE_SIZE
) -> AsyncIterator[ListedBlob]:
    """Every blob of the container, page by page, in the service's (name) order.

    A failed shortcut page is fetched again, and the rest listed, by the SDK's `list_blobs`
    from the same marker: nothing is listed twice, and its errors are the SDK's."""
    marker = ""
    shortcut = BLOBS_SHORTCUT
    while shortcut:
        try:
            blobs, next_marker = await _list_page(container, marker, page_size)
        except Exception as exc:
            _fell_back("List Blobs", exc)
            break
        for blob in blobs:
            yield blob
        if not next_marker:
            return
        marker = next_marker
    pages = container.list_blobs(results_per_page=page_size).by_page(
        continuation_token=marker or None
    )
    async for page in pages:
        async for props in page:
            yield ListedBlob(props.name, props.etag, props.last_modified)


# --- queue messages ---------------------------------------------------------------------------


async def _send_shortcut(queue: QueueClient, text: str, visibility_timeout: int | None) -> None:
    xml = f"<QueueMessage><MessageText>{escape(text)}</MessageText></QueueMessage>"
    request = HttpRequest(
        "POST",
        f"{queue.url}/messages?visibilitytimeout={visibility_timeout or 0}",
        headers={"x-ms-version": queue.api_version, "Content-Type": "application/xml"},
        content=f"<?xml version='1.0' encoding='utf-8'?>\n{xml}".encode(),  # as the SDK's
    )
    response = await _queue_send(queue, request)
    body = await response.read()
    if response.status_code != 201:
        raise HttpResponseError(message=f"Put Message returned {response.status_code}: {body!r}")


async def send_message(
    queue: QueueClient, text: str, visibility_timeout: int | None = None
) -> None:
    """Put Message. A shortcut that raised is followed by the public call, which can deliver
    the message twice if the first request reached the service: every receiver of these
    queues takes a message at least once (duplicates are dropped by message id)."""
    if QUEUES_SHORTCUT and _plain_messages(queue):
        try:
            await _send_shortcut(queue, text, visibility_timeout)
            return
        except Exception as exc:
            _fell_back("Put Message", exc)
    await queue.send_message(text, visibility_timeout=visibility_timeout)


def parse_messages(body: bytes) -> list[QueueMessage]:
    """Get Messages' reply as the SDK's QueueMessage models (the fields devhost reads)."""
    out = []
    root = ET.fromstring(body)  # noqa: S314 - the storage service's own response
    for el in root.iter("QueueMessage"):
        msg = QueueMessage(content=el.findtext("MessageText") or "")
        msg.id = el.findtext("MessageId") or ""
        msg.pop_receipt = el.findtext("PopReceipt")
        msg.dequeue_count = int(el.findtext("DequeueCount") or 0)
        msg.inserted_on = _http_date(el.findtext("InsertionTime") or "")
        msg.next_visible_on = _http_date(el.findtext("TimeNextVisible") or "")
        out.append(msg)
    return out


async def _receive_shortcut(queue: QueueClient, count: int, visibility: int) -> list[QueueMessage]:
    request = HttpRequest(
        "GET",
        f"{queue.url}/messages?numofmessages={count}&visibilitytimeout={visibility}",
        headers={"x-ms-version": queue.api_version},
    )
    response = await _queue_send(queue, request)
    body = await response.read()
    if response.status_code != 200:
        raise HttpResponseError(message=f"Get Messages returned {response.status_code}: {body!r}")
    return parse_messages(body)


async def receive_messages(queue: QueueClient, count: int, visibility: int) -> list[QueueMessage]:
    """Get Messages (up to `count`, hidden for `visibility` s). A shortcut that raised after
    the service answered leaves those messages hidden until their visibility ends; the public
    call then receives others."""
    if QUEUES_SHORTCUT and _plain_messages(queue):
        try:
            return await _receive_shortcut(queue, count, visibility)
        except Exception as exc:
            _fell_back("Get Messages", exc)
    return [
        m
        async for m in queue.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=visibility
        )
    ]
