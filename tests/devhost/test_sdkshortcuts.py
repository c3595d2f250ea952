"""Contract of devhost.sdkshortcuts against a real Azurite: each shortcut gives what the public
SDK call gives, and a shortcut that breaks (any exception) still gives it, through the fallback."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import re
import uuid
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost import sdkshortcuts
from devhost.azurite import Azurite, client_kwargs
from devhost.blobtrigger.properties import blob_properties_dict
from devhost.sdkshortcuts import _private
from tests.conftest import REPO_ROOT

# How each test runs the code under test: the shortcut sent directly (the default: the client's
# aiohttp session under an account SAS), the shortcut through the client's pipeline, the public
# call (shortcut off), or a shortcut whose send raises (a non-HTTP error, like a changed internal).
MODES = ["direct", "pipeline", "public", "broken"]


class Boom(AttributeError):
    """What a renamed SDK internal would raise."""


def _apply(mode: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Set the mode up; returns a list each shortcut send appends its route to."""
    calls: list[str] = []
    if mode == "public":
        monkeypatch.setattr(_private, "TABLES_SHORTCUT", False)
        monkeypatch.setattr(_private, "BLOBS_SHORTCUT", False)
        monkeypatch.setattr(_private, "QUEUES_SHORTCUT", False)
    monkeypatch.setattr(_private, "DIRECT", mode != "pipeline")
    real = _private.send

    async def spy(client: Any, request: Any) -> Any:
        direct = _private.DIRECT and _private._direct_route(client) is not None
        calls.append("direct" if direct else "pipeline")
        if mode == "broken":
            raise Boom("send: no such internal")
        return await real(client, request)

    monkeypatch.setattr(_private, "send", spy)
    return calls


def _routed(calls: list[str], mode: str) -> bool:
    """The shortcuts ran, and by the mode's route (the first send of a fresh client has no
    open session yet, so it goes through the pipeline, which opens it)."""
    if mode == "public":
        return calls == []
    want = "pipeline" if mode == "pipeline" else "direct"
    return bool(calls) and set(calls[1:]) <= {want} and (mode == "broken" or want in calls)


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


def _with_table(azurite: Azurite, body: Callable[[TableClient], Awaitable[None]]) -> None:
    async def go() -> None:
        cs = azurite.connection_string
        async with TableServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            table = svc.get_table_client(f"short{uuid.uuid4().hex[:12]}")
            await table.create_table()
            try:
                await body(table)
            finally:
                await table.delete_table()
                await table.close()

    asyncio.run(go())


async def _partition(table: TableClient, pk: str) -> list[dict[str, Any]]:
    rows = [dict(r) async for r in table.query_entities(f"PartitionKey eq '{pk}'")]
    return [{**r, "PartitionKey": ""} for r in rows]


@pytest.mark.parametrize("mode", MODES)
def test_batches_write_what_submit_transaction_writes(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    calls = _apply(mode, monkeypatch)

    async def body(table: TableClient) -> None:
        await sdkshortcuts.insert_batch(table, _rows("mine", 4))
        await table.submit_transaction([("create", r) for r in _rows("sdk", 4)])
        assert await _partition(table, "mine") == await _partition(table, "sdk")
        # an insert of an existing row fails the whole batch with the SDK's error
        with pytest.raises(TableTransactionError):
            await sdkshortcuts.insert_batch(table, _rows("mine", 6)[3:])
        assert len(await _partition(table, "mine")) == 4
        # upsert merges: columns it does not mention stay
        await sdkshortcuts.upsert_batch(table, [{"PartitionKey": "mine", "RowKey": 16 * "0"}])
        assert (await table.get_entity("mine", 16 * "0"))["Name"] == "Extract é ☃"
        # replace (InsertOrReplace, what AzureTableTrackingStore writes over a ContinueAsNew's
        # old rows): columns it does not mention are gone, a missing row is inserted
        new = {"PartitionKey": "mine", "RowKey": 16 * "0", "EventType": "ExecutionStarted"}
        extra = {"PartitionKey": "mine", "RowKey": 15 * "0" + "9", "EventType": "x"}
        await sdkshortcuts.transaction(table, [("replace", new), ("replace", extra)])
        replaced = dict(await table.get_entity("mine", 16 * "0"))
        assert (replaced["EventType"], "Name" in replaced) == ("ExecutionStarted", False)
        assert (await table.get_entity("mine", 15 * "0" + "9"))["EventType"] == "x"
        # a key the service refuses fails the whole batch with the SDK's error, writes nothing
        bad = _rows("bad'key é", 3)
        bad[2]["RowKey"] = "bad/key"
        with pytest.raises(TableTransactionError):
            await sdkshortcuts.upsert_batch(table, bad)
        assert await _partition(table, "bad''key é") == []

    _with_table(azurite, body)
    assert _routed(calls, mode), calls


def test_part_status_parsing() -> None:
    ok = b"--b\r\nHTTP/1.1 204 No Content\r\n\r\n--b\r\nHTTP/1.1 204 No Content\r\n--b--"
    assert sdkshortcuts.all_parts_succeeded(ok, 2)
    assert not sdkshortcuts.all_parts_succeeded(ok, 3)  # a missing part is not success
    bad = b"--b\r\nHTTP/1.1 400 Bad Request\r\n\r\n{}\r\n--b--"
    assert not sdkshortcuts.all_parts_succeeded(bad, 1)


async def _container(svc: BlobServiceClient, names: list[str]) -> ContainerClient:
    c = svc.get_container_client(f"short-{uuid.uuid4().hex[:8]}")
    await c.create_container()
    for name in names:
        await c.upload_blob(name, b"data")
    return c


@pytest.mark.parametrize("mode", MODES)
def test_listing_matches_list_blobs(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    calls = _apply(mode, monkeypatch)
    names = ["a.png", "folder/b.jpg", "we&ird <name> é.png", "sp ace/ü 写真.gif", "z/" + "x" * 200]

    async def go() -> None:
        cs = azurite.connection_string
        async with BlobServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            c = await _container(svc, names)
            sdk = [(b.name, b.etag, b.last_modified) async for b in c.list_blobs()]
            mine = [
                (b.name, b.etag, b.last_modified)
                async for b in sdkshortcuts.list_blobs(c, page_size=2)
            ]
            assert mine == sdk
            assert sorted(n for n, _, _ in mine) == sorted(names)
            with pytest.raises(ResourceNotFoundError):
                [b async for b in sdkshortcuts.list_blobs(svc.get_container_client("missing"))]
            await c.delete_container()

    asyncio.run(go())
    assert _routed(calls, mode), calls


def test_a_listing_that_breaks_mid_way_continues_from_its_marker(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _private.send
    pages = 0

    async def second_page_fails(client: Any, request: Any) -> Any:
        nonlocal pages
        pages += 1
        if pages == 2:
            raise KeyError("an internal changed shape")
        return await real(client, request)

    monkeypatch.setattr(_private, "send", second_page_fails)
    names = [f"n{i:02d}.png" for i in range(7)]

    async def go() -> None:
        cs = azurite.connection_string
        async with BlobServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            c = await _container(svc, names)
            listed = [b.name async for b in sdkshortcuts.list_blobs(c, page_size=3)]
            assert listed == names  # the first page once, the rest from the SDK
            await c.delete_container()

    asyncio.run(go())
    assert pages == 2


def test_encoded_names_and_next_marker() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Blobs>
<Blob><Name Encoded="true">bad%EF%BF%BEchar.png</Name><Properties>
<Last-Modified>Wed, 25 Nov 2026 12:13:57 GMT</Last-Modified><Etag>0x8D1</Etag></Properties></Blob>
<Blob><Name>plain &amp; simple.jpg</Name><Properties>
<Last-Modified>Wed, 25 Nov 2026 12:13:58 GMT</Last-Modified><Etag>"0x8D2"</Etag></Properties></Blob>
</Blobs><NextMarker>2!8!token</NextMarker></EnumerationResults>"""
    blobs, marker = sdkshortcuts.parse_page(body)
    assert [b.name for b in blobs] == ["bad\ufffechar.png", "plain & simple.jpg"]
    assert [b.etag for b in blobs] == ["0x8D1", '"0x8D2"']
    assert blobs[1].last_modified == datetime(2026, 11, 25, 12, 13, 58, tzinfo=UTC)
    assert marker == "2!8!token"


def test_the_pins_are_the_requirements_and_gate_the_shortcuts() -> None:
    pinned: dict[str, str] = {}
    for req in ("requirements.txt", "requirements-devhost.txt", "requirements-dev.txt"):
        for line in (REPO_ROOT / req).read_text().splitlines():
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if m and m.group(1) in sdkshortcuts.PINNED:
                pinned[m.group(1)] = m.group(2)
    assert pinned == sdkshortcuts.PINNED, "bump the pins only after re-running this contract"
    assert _private.TABLES_SHORTCUT and _private.BLOBS_SHORTCUT
    assert _private.QUEUES_SHORTCUT
    assert not sdkshortcuts.versions_match({"azure-data-tables": "0.0.1"})
    assert not sdkshortcuts.versions_match({"no-such-distribution": "1.0"})


@pytest.mark.parametrize("mode", MODES)
def test_queue_messages_match_the_public_calls(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    calls = _apply(mode, monkeypatch)
    texts = ['{"a": "x & y <z>", "é": "☃"}', "plain", "  spaces kept  ", "'quotes' \"both\""]

    async def go() -> None:
        cs = azurite.connection_string
        async with QueueServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            q = svc.get_queue_client(f"short-{uuid.uuid4().hex[:8]}")
            await q.create_queue()
            for text in texts:
                await sdkshortcuts.send_message(q, text)
            await sdkshortcuts.send_message(q, "later", visibility_timeout=30)
            got = await sdkshortcuts.receive_messages(q, 32, 60)
            assert [m.content for m in got] == texts  # "later" is not visible yet
            assert all(m.dequeue_count == 1 and m.pop_receipt and m.id for m in got)
            assert all(m.inserted_on and m.next_visible_on for m in got)
            assert await sdkshortcuts.receive_messages(q, 32, 60) == []  # all hidden now
            for m in got:  # the receipts are the service's: the SDK deletes with them
                await q.delete_message(m)
            assert await q.peek_messages(max_messages=32) == []  # "later" is still hidden
            await q.delete_queue()

    asyncio.run(go())
    assert _routed(calls, mode), calls


class OwnEncode(BinaryBase64EncodePolicy):
    """A subclass may do anything: the shortcuts leave it to the public calls."""


@pytest.mark.parametrize(
    ("encode", "decode", "sent", "wire", "got"),
    [
        (
            BinaryBase64EncodePolicy,
            BinaryBase64DecodePolicy,
            b"by\x00tes",
            "YnkAdGVz",
            b"by\x00tes",
        ),
        (TextBase64EncodePolicy, TextBase64DecodePolicy, "tëxt", "dMOreHQ=", "tëxt"),
        (BinaryBase64EncodePolicy, None, b"bytes", "Ynl0ZXM=", "Ynl0ZXM="),
    ],
)
def test_queue_clients_with_the_sdks_base64_policies_match_the_public_calls(
    azurite: Azurite,
    monkeypatch: pytest.MonkeyPatch,
    encode: type,
    decode: type | None,
    sent: Any,
    wire: str,
    got: Any,
) -> None:
    """The blob trigger's queue is base64 (BinaryBase64*Policy, as the WebJobs extension
    writes it); each message is encoded and decoded as the SDK's policy would."""
    calls = _apply("direct", monkeypatch)

    async def go() -> list[Any]:
        cs = azurite.connection_string
        policies = {"message_encode_policy": encode()}
        if decode is not None:
            policies["message_decode_policy"] = decode()
        async with (
            QueueClient.from_connection_string(
                cs, f"short-{uuid.uuid4().hex[:8]}", **policies, **client_kwargs(cs)
            ) as q,
            QueueClient.from_connection_string(cs, q.queue_name, **client_kwargs(cs)) as plain,
        ):
            await q.create_queue()
            await sdkshortcuts.send_message(q, sent)
            await q.send_message(sent)  # the public call, for comparison
            raw = [m.content for m in await plain.peek_messages(max_messages=2)]
            mine = await sdkshortcuts.receive_messages(q, 1, 60)
            theirs = [m async for m in q.receive_messages(max_messages=1)]
            for m in mine:
                await sdkshortcuts.delete_message(q, m)
            await q.delete_queue()
            return [raw, [m.content for m in mine], [m.content for m in theirs]]

    assert asyncio.run(go()) == [[wire, wire], [got], [got]]
    assert _routed(calls, "direct"), calls


def test_queue_clients_with_another_policy_take_the_public_calls(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _apply("direct", monkeypatch)

    async def go() -> str:
        cs = azurite.connection_string
        async with QueueClient.from_connection_string(
            cs,
            f"short-{uuid.uuid4().hex[:8]}",
            message_encode_policy=OwnEncode(),
            **client_kwargs(cs),
        ) as q:
            await q.create_queue()
            await sdkshortcuts.send_message(q, b"bytes")
            (msg,) = await sdkshortcuts.receive_messages(q, 1, 60)
            await sdkshortcuts.delete_message(q, msg)
            await q.delete_queue()
            return str(msg.content)

    assert asyncio.run(go()) == "Ynl0ZXM="
    assert calls == ["direct"]  # only the delete, which carries no content


@pytest.mark.parametrize("mode", MODES)
def test_deleting_a_message_matches_the_public_call(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    calls = _apply(mode, monkeypatch)

    async def go() -> None:
        cs = azurite.connection_string
        async with QueueServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            q = svc.get_queue_client(f"short-{uuid.uuid4().hex[:8]}")
            await q.create_queue()
            for text in ("one", "two"):
                await q.send_message(text)
            one, two = await sdkshortcuts.receive_messages(q, 2, 60)
            await sdkshortcuts.delete_message(q, one)
            with pytest.raises(ResourceNotFoundError):  # gone: the public call's error
                await sdkshortcuts.delete_message(q, one)
            await sdkshortcuts.delete_message(q, two)
            assert await q.peek_messages() == []
            await q.delete_queue()

    asyncio.run(go())
    assert _routed(calls, mode), calls


def test_get_messages_parsing() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage>
<MessageId>id-1</MessageId><InsertionTime>Wed, 25 Nov 2026 12:13:57 GMT</InsertionTime>
<ExpirationTime>Wed, 02 Dec 2026 12:13:57 GMT</ExpirationTime><PopReceipt>pr==</PopReceipt>
<TimeNextVisible>Wed, 25 Nov 2026 12:14:27 GMT</TimeNextVisible><DequeueCount>3</DequeueCount>
<MessageText>{"a": "x &amp; &lt;y&gt;"}</MessageText></QueueMessage></QueueMessagesList>"""
    (msg,) = sdkshortcuts.parse_messages(body)
    assert (msg.id, msg.pop_receipt, msg.dequeue_count) == ("id-1", "pr==", 3)
    assert msg.content == '{"a": "x & <y>"}'
    assert msg.next_visible_on == datetime(2026, 11, 25, 12, 14, 27, tzinfo=UTC)
    assert sdkshortcuts.parse_messages(b"<QueueMessagesList />") == []


@pytest.mark.parametrize("mode", MODES)
def test_single_entities_match_the_public_calls(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The Instances row's calls (tracking.py): insert, replace (If-Match: *), point read."""
    calls = _apply(mode, monkeypatch)
    row = _rows("it's é & ü%", 1)[0] | {"RowKey": "", "Big": 2**31 - 1, "Blob": b"\x00\xff"}

    async def body(table: TableClient) -> None:
        await sdkshortcuts.create_entity(table, row)
        with pytest.raises(ResourceExistsError):
            await sdkshortcuts.create_entity(table, row)
        mine = await sdkshortcuts.find_entity(table, row["PartitionKey"], "")
        assert mine is not None
        theirs = await table.get_entity(row["PartitionKey"], "")
        assert dict(mine) == dict(theirs)
        assert mine.metadata == theirs.metadata  # type: ignore[attr-defined]
        picked = await sdkshortcuts.find_entity(table, row["PartitionKey"], "", ["Name", "Big"])
        assert picked is not None and dict(picked) == dict(
            await table.get_entity(row["PartitionKey"], "", select=["Name", "Big"])
        )
        await sdkshortcuts.replace_entity(table, {**row, "Name": "replaced", "Input": None})
        after = dict(await table.get_entity(row["PartitionKey"], ""))
        assert (after["Name"], "Input" in after) == ("replaced", False)
        with pytest.raises(ResourceNotFoundError):
            await sdkshortcuts.replace_entity(table, {**row, "PartitionKey": "gone"})
        # a miss is None, in one request (a status check of an id not started yet)
        sends = len(calls)
        with monkeypatch.context() as m:
            if mode in ("direct", "pipeline"):  # the shortcut's 404 is the answer
                m.setattr(table, "get_entity", None)  # no public call
            assert await sdkshortcuts.find_entity(table, "gone", "") is None
        assert len(calls) == sends + (mode != "public")
        assert [dict(r) async for r in table.query_entities("PartitionKey eq 'gone'")] == []

    _with_table(azurite, body)
    assert _routed(calls, mode), calls


@pytest.mark.parametrize("mode", MODES)
def test_receipt_calls_match_the_public_calls(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The blob trigger's receipt (receipts.py): create if missing, lease, metadata, release."""
    calls = _apply(mode, monkeypatch)
    name = "hosts/blobreceipts/f/c/é ü & #?.png/0x8D1"

    async def go() -> None:
        cs = azurite.connection_string
        async with BlobServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            c = await _container(svc, [])
            await sdkshortcuts.create_if_missing(c, name, {"Incomplete": "Incomplete"})
            with pytest.raises((ResourceExistsError, ResourceModifiedError)):
                await sdkshortcuts.create_if_missing(c, name, {"Incomplete": "Incomplete"})
            blob = c.get_blob_client(name)
            props = await blob.get_blob_properties()
            assert (props.size, props.metadata) == (0, {"Incomplete": "Incomplete"})
            lease = await sdkshortcuts.acquire_lease(c, name, 30)
            with pytest.raises(ResourceExistsError):  # another holder is refused
                await sdkshortcuts.acquire_lease(c, name, 30)
            with pytest.raises(HttpResponseError):  # metadata needs the lease
                await sdkshortcuts.set_metadata(c, name, {}, str(uuid.uuid4()))
            await sdkshortcuts.set_metadata(c, name, {}, lease)
            props = await blob.get_blob_properties()
            assert (props.metadata, props.lease.state) == ({}, "leased")
            await sdkshortcuts.release_lease(c, name, lease)
            assert (await blob.get_blob_properties()).lease.state == "available"
            with pytest.raises(ResourceNotFoundError):
                await sdkshortcuts.acquire_lease(c, "missing", 30)
            await c.delete_container()

    asyncio.run(go())
    assert _routed(calls, mode), calls


def test_a_direct_request_never_logs_its_sas(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A direct request's URL carries the account SAS; a failure that quotes the URL is logged
    without the signature (the guide: secrets never in logs)."""

    class Refusing:
        closed = False

        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            raise ValueError(f"cannot send {url}")  # the URL, as aiohttp's errors quote it

    monkeypatch.setattr(_private, "_warned", set())
    real_route = _private._direct_route

    def refusing_route(client: Any) -> Any:
        route = real_route(client)
        assert route is not None and "sig=" in route.sas
        return dataclasses.replace(route, session=Refusing())

    monkeypatch.setattr(_private, "_direct_route", refusing_route)

    async def go() -> None:
        cs = azurite.connection_string
        async with QueueServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            q = svc.get_queue_client(f"short-{uuid.uuid4().hex[:8]}")
            await q.create_queue()
            await sdkshortcuts.send_message(q, "still delivered by the public call")
            assert len(await q.peek_messages()) == 1
            await q.delete_queue()

    with caplog.at_level("DEBUG", logger="devhost.sdkshortcuts"):
        asyncio.run(go())
    logged = caplog.text
    assert "Put Message shortcut failed" in logged and "sig=REDACTED" in logged
    sig = re.search(r"sig=([^&]+)", _private.account_sas(*_private._shared_key(q_for_key(azurite))))
    assert sig is not None and sig.group(1) not in logged


def q_for_key(azurite: Azurite) -> QueueClient:
    cs = azurite.connection_string
    return QueueClient.from_connection_string(cs, "any", **client_kwargs(cs))


def test_the_account_sas_is_made_once_per_key() -> None:
    first = _private.account_sas("devstoreaccount1", "a2V5")
    assert _private.account_sas("devstoreaccount1", "a2V5") is first
    assert _private.account_sas("devstoreaccount1", "b3RoZXI=") != first
    assert "ss=bqt" in first and "srt=sco" in first


@pytest.mark.parametrize("mode", MODES)
def test_the_trigger_download_matches_the_public_call(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The blob trigger's binding download (executor.py): content, the properties the function
    sees (blob_properties_dict, the real host's names) and metadata, as `download_blob` +
    `readall` give them; an empty blob (Get Blob's range fails on it) and a gzip-encoded one
    (the SDK decompresses) are the public call's."""
    calls = _apply(mode, monkeypatch)
    settings = ContentSettings(
        content_type="image/png",
        content_language="de",
        content_disposition="inline",
        cache_control="max-age=5",
        content_md5=bytearray(hashlib.md5(b"data").digest()),
    )
    blobs: dict[str, tuple[bytes, dict[str, Any]]] = {
        "plain é & ü (1).png": (b"\x89PNG" + bytes(range(256)) * 40, {}),
        "with/settings.png": (b"data", {"content_settings": settings}),
        "meta.jpg": (b"jpeg", {"metadata": {"Mixed": "Case", "lower": "v"}}),
        "empty.gif": (b"", {}),
        "zipped.png": (gzip.compress(b"zip"), {"content_settings": ContentSettings("x", "gzip")}),
    }

    async def go() -> None:
        cs = azurite.connection_string
        async with BlobServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            c = await _container(svc, [])
            for name, (data, kwargs) in blobs.items():
                etag = (await c.get_blob_client(name).upload_blob(data, **kwargs))["etag"]
                got, props = await sdkshortcuts.download_if_match(c, name, etag)
                sdk = await c.get_blob_client(name).download_blob(
                    etag=etag, match_condition=MatchConditions.IfNotModified
                )
                assert got == await sdk.readall(), name
                mine, theirs = blob_properties_dict(props), blob_properties_dict(sdk.properties)
                assert mine == theirs, name
                assert (props.name, props.container) == (name, c.container_name)
            etag = (await c.get_blob_client("changed.png").upload_blob(b"v1"))["etag"]
            await c.upload_blob("changed.png", b"v2", overwrite=True)
            with pytest.raises(ResourceModifiedError):
                await sdkshortcuts.download_if_match(c, "changed.png", etag)
            with pytest.raises((ResourceNotFoundError, ResourceModifiedError)):  # Azurite: 412
                await sdkshortcuts.download_if_match(c, "missing.png", etag)
            await c.delete_container()

    asyncio.run(go())
    assert _routed(calls, mode), calls


def test_a_service_that_refuses_the_sas_gets_the_sdks_signing(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage account that does not take the account SAS (403 before anything runs): the
    request is sent again through the pipeline (Shared Key), once, and that service is never
    sent a direct request again."""
    calls = _apply("direct", monkeypatch)
    monkeypatch.setattr(_private, "_routes", weakref.WeakKeyDictionary())
    monkeypatch.setattr(_private, "_refused", set())
    monkeypatch.setattr(_private, "account_sas", lambda account, key: "sv=2021-12-02&sig=bad")

    async def go() -> list[str]:
        cs = azurite.connection_string
        async with QueueServiceClient.from_connection_string(cs, **client_kwargs(cs)) as svc:
            q = svc.get_queue_client(f"short-{uuid.uuid4().hex[:8]}")
            await q.create_queue()
            await sdkshortcuts.send_message(q, "one")
            await sdkshortcuts.send_message(q, "two")
            texts = [m.content for m in await q.peek_messages(max_messages=32)]
            await q.delete_queue()
            return texts

    assert asyncio.run(go()) == ["one", "two"]  # each delivered once
    assert calls == ["direct", "pipeline"]
    assert len(_private._refused) == 1
