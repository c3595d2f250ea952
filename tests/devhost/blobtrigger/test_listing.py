"""The scan's lean container listing: same names, ETags and times as the SDK's list_blobs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from devhost.azurite import Azurite, client_kwargs
from devhost.blobtrigger.listing import list_blobs, parse_page

NAMES = ["a.png", "folder/b.jpg", "we&ird <name> é.png", "sp ace/ü 写真.gif", "z/" + "x" * 200]


def test_matches_the_sdk_listing_across_pages(azurite: Azurite) -> None:
    async def go() -> None:
        cs = azurite.connection_string
        async with BlobServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            c = svc.get_container_client(f"listing-{uuid.uuid4().hex[:8]}")
            await c.create_container()
            for name in NAMES:
                await c.upload_blob(name, b"data")
            sdk = [(b.name, b.etag, b.last_modified) async for b in c.list_blobs()]
            mine = [(b.name, b.etag, b.last_modified) async for b in list_blobs(c, page_size=2)]
            assert mine == sdk
            assert sorted(n for n, _, _ in mine) == sorted(NAMES)
            with pytest.raises(ResourceNotFoundError):
                [b async for b in list_blobs(svc.get_container_client("missing-container"))]
            await c.delete_container()

    asyncio.run(go())


def test_encoded_names_and_next_marker() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Blobs>
<Blob><Name Encoded="true">bad%EF%BF%BEchar.png</Name><Properties>
<Last-Modified>Wed, 25 Nov 2026 12:13:57 GMT</Last-Modified><Etag>0x8D1</Etag></Properties></Blob>
<Blob><Name>plain &amp; simple.jpg</Name><Properties>
<Last-Modified>Wed, 25 Nov 2026 12:13:58 GMT</Last-Modified><Etag>"0x8D2"</Etag></Properties></Blob>
</Blobs><NextMarker>2!8!token</NextMarker></EnumerationResults>"""
    blobs, marker = parse_page(body)
    assert [b.name for b in blobs] == ["bad\ufffechar.png", "plain & simple.jpg"]
    assert [b.etag for b in blobs] == ["0x8D1", '"0x8D2"']
    assert blobs[1].last_modified == datetime(2026, 11, 25, 12, 13, 58, tzinfo=UTC)
    assert marker == "2!8!token"
