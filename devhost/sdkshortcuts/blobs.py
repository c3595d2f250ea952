"""Blob requests: the blob trigger's container listing and its receipts' writes and lease.

`list_blobs` builds a full BlobProperties model per blob, ~145 µs each; the scan needs name,
ETag and Last-Modified, read here from the List Blobs XML with ElementTree: ~10x less CPU. The
receipt calls (create if missing, lease acquire and release, set metadata) are the SDK's
requests addressed from the container, without a BlobClient per call or the pipeline.
"""

from __future__ import annotations

import base64
import functools
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import BlobLeaseClient, ContainerClient

from devhost.sdkshortcuts import _private
from devhost.sdkshortcuts._private import Request, fell_back, url_of

PAGE_SIZE = 5000  # List Blobs' maximum
SINGLE_GET = 32 * 1024 * 1024  # the SDK's max_single_get_size: its first (often only) range
_RANGE = re.compile(r"bytes 0-(\d+)/(\d+)")


@dataclass(frozen=True)
class ListedBlob:
    name: str
    etag: str
    last_modified: datetime


@functools.lru_cache(maxsize=4096)
def http_date(text: str) -> datetime:
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
                last_modified=http_date(props.findtext("Last-Modified") or ""),
            )
        )
    return blobs, root.findtext("NextMarker") or ""


async def _list_page(
    container: ContainerClient, marker: str, page_size: int
) -> tuple[list[ListedBlob], str]:
    url = url_of(container)
    query = f"restype=container&comp=list&maxresults={page_size}"
    if marker:
        query += f"&marker={quote(marker, safe='')}"
    request = Request(
        "GET",
        f"{url}{'&' if '?' in url else '?'}{query}",
        headers={"x-ms-version": container.api_version},
    )
    reply = await _private.send(container, request)
    if reply.status == 404:
        raise ResourceNotFoundError(message=f"container {container.container_name} not found")
    if reply.status != 200:
        raise HttpResponseError(message=f"List Blobs returned {reply.status}: {reply.body[:300]!r}")
    return parse_page(reply.body)


async def list_blobs(
    container: ContainerClient, page_size: int = PAGE_SIZE
) -> AsyncIterator[ListedBlob]:
    """Every blob of the container, page by page, in the service's (name) order.

    A failed shortcut page is fetched again, and the rest listed, by the SDK's `list_blobs`
    from the same marker: nothing is listed twice, and its errors are the SDK's."""
    marker = ""
    shortcut = _private.BLOBS_SHORTCUT
    while shortcut:
        try:
            blobs, next_marker = await _list_page(container, marker, page_size)
        except Exception as exc:
            fell_back("List Blobs", exc)
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


# --- one blob, addressed from its container ----------------------------------------------------
# Each sends the public call's request and decodes only its success; any other outcome (a
# receipt that exists, a lease another holds) is the public call's to report, made again.


async def _blob_request(
    container: ContainerClient,
    what: str,
    name: str,
    query: str,
    headers: Mapping[str, str],
    *,
    method: str = "PUT",
) -> _private.Reply | None:
    """The reply, or None when the shortcut is off or could not send (logged)."""
    if not _private.BLOBS_SHORTCUT or "?" in url_of(container):  # a SAS client's URL has a query
        return None
    try:
        request = Request(
            method,
            f"{url_of(container)}/{quote(name, safe='~/')}{query}",
            headers={"x-ms-version": container.api_version, **headers},
        )
        return await _private.send(container, request)
    except Exception as exc:
        fell_back(what, exc)
        return None


async def create_if_missing(
    container: ContainerClient, name: str, metadata: Mapping[str, str]
) -> None:
    """An empty block blob with this metadata, only if there is none (If-None-Match: *);
    ResourceExistsError (or ResourceModifiedError) when there is."""
    headers = {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*", "Content-Length": "0"}
    headers.update({f"x-ms-meta-{k}": v for k, v in metadata.items()})
    reply = await _blob_request(container, "Put Blob", name, "", headers)
    if reply is None or reply.status != 201:
        await container.get_blob_client(name).upload_blob(
            b"", metadata=dict(metadata), match_condition=MatchConditions.IfMissing
        )


async def acquire_lease(container: ContainerClient, name: str, seconds: int) -> str:
    """Lease Blob (acquire) with a proposed id, as BlobLeaseClient does; the lease id."""
    proposed = str(uuid.uuid4())
    headers = {
        "x-ms-lease-action": "acquire",
        "x-ms-lease-duration": str(seconds),
        "x-ms-proposed-lease-id": proposed,
    }
    reply = await _blob_request(container, "Lease Blob", name, "?comp=lease", headers)
    if reply is not None and reply.status == 201:
        return str(reply.headers.get("x-ms-lease-id") or proposed)
    lease = await container.get_blob_client(name).acquire_lease(seconds)
    return str(lease.id)


async def set_metadata(
    container: ContainerClient, name: str, metadata: Mapping[str, str], lease_id: str
) -> None:
    """Set Blob Metadata under the lease (an empty mapping removes every entry)."""
    headers = {"x-ms-lease-id": lease_id, **{f"x-ms-meta-{k}": v for k, v in metadata.items()}}
    reply = await _blob_request(container, "Set Blob Metadata", name, "?comp=metadata", headers)
    if reply is None or reply.status != 200:
        await container.get_blob_client(name).set_blob_metadata(dict(metadata), lease=lease_id)


async def release_lease(container: ContainerClient, name: str, lease_id: str) -> None:
    """Lease Blob (release)."""
    headers = {"x-ms-lease-action": "release", "x-ms-lease-id": lease_id}
    reply = await _blob_request(container, "Lease Blob", name, "?comp=lease", headers)
    if reply is None or reply.status != 200:
        await BlobLeaseClient(container.get_blob_client(name), lease_id).release()


def _properties(name: str, container: str, headers: Mapping[str, str], size: int) -> BlobProperties:
    """BlobProperties as the SDK's downloader leaves them after a one-range download
    (`_download_async.py` `_setup`, `_deserialize.deserialize_blob_properties`)."""
    md5 = headers.get("x-ms-blob-content-md5")
    props = BlobProperties(
        **{
            "name": name,
            "x-ms-blob-type": headers.get("x-ms-blob-type"),
            "metadata": {
                k[10:]: v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")
            },
            "Last-Modified": http_date(headers["Last-Modified"]),
            "ETag": headers.get("ETag"),
            "Content-Length": size,
            "Content-Type": headers.get("Content-Type"),
            "Content-Encoding": headers.get("Content-Encoding"),
            "Content-Language": headers.get("Content-Language"),
            "Content-Disposition": headers.get("Content-Disposition"),
            "Cache-Control": headers.get("Cache-Control"),
            "x-ms-creation-time": (
                http_date(headers["x-ms-creation-time"])
                if "x-ms-creation-time" in headers
                else None
            ),
        }
    )
    props.container = container
    props.content_range = f"bytes 0-{size - 1}/{size}"
    props.content_settings.content_md5 = bytearray(base64.b64decode(md5)) if md5 else None
    return props


async def download_if_match(
    container: ContainerClient, name: str, etag: str
) -> tuple[bytes, BlobProperties]:
    """The whole blob and its properties, only in the version `etag` names (If-Match), as
    `download_blob(etag=..., match_condition=IfNotModified)` + `readall()` give them;
    ResourceNotFoundError or ResourceModifiedError when it is gone or changed. Decoded here:
    a blob that fits the SDK's first range and has no Content-Encoding (the SDK would
    decompress it); the rest is the public call's."""
    headers = {"x-ms-range": f"bytes=0-{SINGLE_GET - 1}", "If-Match": etag}
    reply = await _blob_request(container, "Get Blob", name, "", headers, method="GET")
    if reply is not None:
        try:
            got = _RANGE.fullmatch(reply.headers.get("Content-Range", ""))
            if (
                reply.status == 206
                and got is not None
                and int(got.group(1)) + 1 == int(got.group(2)) == len(reply.body)
                and not reply.headers.get("Content-Encoding")
            ):
                size = len(reply.body)
                return reply.body, _properties(name, container.container_name, reply.headers, size)
        except Exception as exc:
            fell_back("Get Blob", exc)
    downloader = await container.get_blob_client(name).download_blob(
        etag=etag, match_condition=MatchConditions.IfNotModified
    )
    return await downloader.readall(), downloader.properties
