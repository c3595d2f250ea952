"""The listener against a real Azurite: fires once per blob version, retries, poison, restarts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from unittest import mock

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from devhost.blobtrigger import POISON_QUEUE, BlobTriggerListener, target_from_binding
from devhost.blobtrigger.receipts import HOSTS_CONTAINER, receipt_name
from devhost.blobtrigger.scanner import ContainerScanner
from devhost.blobtrigger.skips import SkipReason
from devhost.blobtrigger.targets import host_queue_name
from devhost.contracts import BlobTriggerEvent
from tests.overlap import overlap_of
from tests.waiting import wait_until


@dataclass
class Recorder:
    events: list[BlobTriggerEvent] = field(default_factory=list)
    fail_names: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)
    block: asyncio.Event | None = None

    async def __call__(self, event: BlobTriggerEvent) -> None:
        self.attempts[event.blob_name] = self.attempts.get(event.blob_name, 0) + 1
        if self.block is not None:
            await self.block.wait()
        if event.blob_name in self.fail_names:
            raise RuntimeError(f"boom on {event.blob_name}")
        self.events.append(event)


class Scans:
    """Counts the listener's completed container scans (what a wrongful firing would need)."""

    def __init__(self) -> None:
        self.done = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        original = ContainerScanner.scan_once

        async def counted(scanner: ContainerScanner) -> int:
            found = await original(scanner)
            self.done += 1
            return found

        with mock.patch.object(ContainerScanner, "scan_once", counted):
            yield


def run_listener(
    azurite: Azurite,
    container: str,
    host_id: str,
    recorder: Recorder,
    until: Callable[[], bool] | None,
    timeout: float = 30.0,
    pattern: str = "{name}",
    skip_reason: SkipReason | None = None,
    **kwargs: float,
) -> BlobTriggerListener:
    """Run a listener (on its own event loop thread) until `until()` holds, then until it has
    scanned twice more and left nothing waiting on its queue: any wrongful extra firing has
    shown by then. `until=None` runs just those two scans (a check that nothing fires)."""
    target = target_from_binding(
        "Probe",
        {"path": f"{container}/{pattern}"},
        {"AzureWebJobsStorage": azurite.connection_string},
    )
    listener = BlobTriggerListener(
        [target], recorder, host_id=host_id, poll_interval=0.2, retry_delay=1,
        skip_reason=skip_reason, **kwargs,
    )  # fmt: skip
    work = QueueClient.from_connection_string(azurite.connection_string, host_queue_name(host_id))
    scans = Scans()
    loop = asyncio.new_event_loop()
    crashed: list[BaseException] = []

    def serve() -> None:
        try:
            loop.run_until_complete(listener.run())
        except BaseException as e:  # re-raised in the test's thread
            crashed.append(e)

    def seen() -> str:
        return f"attempts {recorder.attempts}, {len(recorder.events)} events, {scans.done} scans"

    with scans.counting():
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            if until is not None:
                wait_until(
                    lambda: until() or not thread.is_alive(),
                    timeout=timeout,
                    interval=0.1,
                    message=lambda: "until() never held: " + seen(),
                )
            settled = scans.done + 2
            wait_until(
                lambda: (
                    not thread.is_alive()
                    or (scans.done >= settled and not work.peek_messages(max_messages=1))
                ),
                timeout=timeout,
                interval=0.1,
                message=lambda: "never settled: " + seen(),
            )
        finally:
            if thread.is_alive():
                asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(10)
            thread.join(10)
            assert not thread.is_alive(), "the listener did not stop within 10 s"
            loop.close()
    if crashed:
        raise crashed[0]
    return listener


def names() -> tuple[str, str]:
    return "c" + uuid.uuid4().hex[:10], "host" + uuid.uuid4().hex[:8]


def test_new_blobs_fire_once_with_properties_and_binding_data(azurite: Azurite) -> None:
    container, host_id = names()
    svc = BlobServiceClient.from_connection_string(azurite.connection_string)
    cc = svc.create_container(container)
    blobs = {"a.png": b"1", "cats/nested/b.jpg": b"22", "ünï cødé #%.gif": b"333"}
    etags = {n: cc.get_blob_client(n).upload_blob(d)["etag"] for n, d in blobs.items()}
    rec = Recorder()
    run_listener(azurite, container, host_id, rec, until=lambda: len(rec.events) >= 3)

    assert sorted(e.blob_name for e in rec.events) == sorted(blobs)
    by_name = {e.blob_name: e for e in rec.events}
    for name, data in blobs.items():
        e = by_name[name]
        assert e.content == data
        assert e.etag == etags[name]
        assert e.binding_data == {"name": name}
        assert e.properties["ContentLength"] == len(data)
        assert e.properties["ETag"] == etags[name]
        assert e.properties["LastModified"].endswith("Z")
        assert e.properties["BlobType"] == "Block"
    # Receipts exist at the real host's path and are complete (no Incomplete metadata).
    hosts = svc.get_container_client(HOSTS_CONTAINER)
    for name in blobs:
        r = receipt_name(host_id, "Host.Functions.Probe", etags[name], container, name)
        assert hosts.get_blob_client(r).get_blob_properties().metadata == {}
    assert r.split("/")[3].startswith('"')  # the ETag segment keeps its quotes
    scan = json.loads(
        hosts.download_blob(
            f"blobscaninfo/{host_id}/devstoreaccount1/{container}/scanInfo"
        ).readall()
    )
    assert "LatestScan" in scan


def test_a_scan_claims_new_blobs_one_at_a_time_in_listing_order(azurite: Azurite) -> None:
    # ScanBlobScanLogHybridPollingStrategy.cs PollAndNotify (azure-sdk-for-net,
    # Microsoft.Azure.WebJobs.Extensions.Storage.Blobs): `foreach (var newBlob in newBlobs)
    # await NotifyRegistrationsAsync(...)`, which awaits BlobTriggerExecutor.ExecuteAsync (the
    # receipt, the lease, the queue message): a backlog reaches the queue one claim at a time,
    # in listing order. Claiming them concurrently would make devhost drain a backlog faster
    # than Azure can (issue 21's pipeline figures rest on this rule).
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    blobs = [f"b{i:02d}.png" for i in range(12)]
    for name in reversed(blobs):  # upload order is not listing order
        cc.upload_blob(name, b"x")
    rec = Recorder()
    # A slower store (10 ms per claim) leaves room for a concurrent claim to start.
    with overlap_of(ContainerScanner, "_claim", delay=0.01) as claims:
        run_listener(azurite, container, host_id, rec, until=lambda: len(rec.events) >= 12)
    assert sorted(e.blob_name for e in rec.events) == blobs
    assert [name for name, _etag in claims.ended] == blobs
    assert claims.most == 1


def test_restart_does_not_refire_and_new_etag_does(azurite: Azurite) -> None:
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    cc.upload_blob("x.png", b"v1")
    first = Recorder()
    run_listener(azurite, container, host_id, first, until=lambda: len(first.events) >= 1)
    assert [e.content for e in first.events] == [b"v1"]

    # A new listener (a devhost restart) on the same host id: nothing fires for x.png v1.
    second = Recorder()
    cc.upload_blob("y.png", b"y")
    run_listener(azurite, container, host_id, second, until=lambda: len(second.events) >= 1)
    assert [e.blob_name for e in second.events] == ["y.png"]

    # Overwrite: a new ETag is a new blob version and fires again.
    third = Recorder()
    cc.upload_blob("x.png", b"v2", overwrite=True)
    run_listener(azurite, container, host_id, third, until=lambda: len(third.events) >= 1)
    assert [(e.blob_name, e.content) for e in third.events] == [("x.png", b"v2")]


def test_failures_retry_then_poison_with_the_real_message_shape(azurite: Azurite) -> None:
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    etag = cc.get_blob_client("bad.gif").upload_blob(b"x")["etag"]
    poison = QueueClient.from_connection_string(azurite.connection_string, POISON_QUEUE)
    rec = Recorder(fail_names={"bad.gif"})

    def poisoned() -> bool:
        return any(
            json.loads(base64.b64decode(m.content)).get("BlobName") == "bad.gif"
            for m in poison.peek_messages(max_messages=32)
        )

    run_listener(azurite, container, host_id, rec, until=poisoned, timeout=60, poison_threshold=3)
    assert rec.attempts["bad.gif"] == 3
    msgs = [json.loads(base64.b64decode(m.content)) for m in poison.peek_messages(32)]
    assert {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.Probe",
        "BlobType": "BlockBlob",
        "ContainerName": container,
        "BlobName": "bad.gif",
        "ETag": etag,
    } in msgs
    # The receipt was completed when the message was enqueued (BlobTriggerExecutor.cs), so
    # a restarted listener does not fire it again; the poison queue holds the record.
    hosts = BlobServiceClient.from_connection_string(azurite.connection_string)
    r = receipt_name(host_id, "Host.Functions.Probe", etag, container, "bad.gif")
    meta = hosts.get_container_client(HOSTS_CONTAINER).get_blob_client(r).get_blob_properties()
    assert meta.metadata == {}
    again = Recorder()
    run_listener(azurite, container, host_id, again, until=None)
    assert again.attempts == {}


def test_work_left_by_a_crash_is_finished_by_the_next_listener(azurite: Azurite) -> None:
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    cc.upload_blob("stuck.png", b"s")
    blocked = Recorder(block=asyncio.Event())  # never released: the "crash" happens mid-handler
    run_listener(
        azurite, container, host_id, blocked, until=lambda: bool(blocked.attempts), timeout=20,
        visibility_timeout=2,
    )  # fmt: skip
    assert blocked.attempts == {"stuck.png": 1} and blocked.events == []
    # BlobTriggerExecutor.ExecuteAsync completes the receipt right after enqueuing, not when
    # the function finishes: the queue message is what carries the unfinished work.
    hosts = BlobServiceClient.from_connection_string(azurite.connection_string)
    r = receipt_name(host_id, "Host.Functions.Probe", cc.get_blob_client("stuck.png")
                     .get_blob_properties().etag, container, "stuck.png")  # fmt: skip
    meta = hosts.get_container_client(HOSTS_CONTAINER).get_blob_client(r).get_blob_properties()
    assert meta.metadata == {}

    resumed = Recorder()
    run_listener(azurite, container, host_id, resumed, until=lambda: bool(resumed.events))
    assert [e.blob_name for e in resumed.events] == ["stuck.png"]


def test_processed_blobs_cost_no_receipt_work_on_later_polls(azurite: Azurite) -> None:
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    for i in range(300):
        cc.upload_blob(f"old/{i:04d}.png", b"o")
    # Last-Modified has 1 s resolution, so blobs from the cursor's own second are re-checked
    # after a restart (bounded by the upload rate, not the container size): end on a marker.
    time.sleep(1.1)
    cc.upload_blob("marker.png", b"m")
    rec = Recorder()
    run_listener(
        azurite, container, host_id, rec, until=lambda: len(rec.events) >= 301, timeout=120
    )
    assert len(rec.events) == 301

    # Restart: the cursor says all 300 are older than the last scan -> no receipt round trips.
    later = Recorder()
    cc.upload_blob("new.png", b"n")
    listener = run_listener(azurite, container, host_id, later, until=lambda: bool(later.events))
    assert [e.blob_name for e in later.events] == ["new.png"]
    calls = sum(a.receipts.calls for a in listener._accounts.values())
    assert calls <= 10, f"{calls} receipt calls for 1 new blob among 300 processed ones"


def test_receipt_metadata_is_the_real_hosts(azurite: Azurite) -> None:
    # BlobReceipt.cs: Incomplete is marked by the key's presence, value "Incomplete"
    # (ToMetadata); any receipt with the key reads as incomplete (FromMetadata).
    import asyncio as aio  # noqa: PLC0415

    from azure.storage.blob.aio import BlobServiceClient as AsyncBlobService  # noqa: PLC0415

    from devhost.blobtrigger.receipts import ReceiptStore  # noqa: PLC0415

    async def go() -> None:
        async with AsyncBlobService.from_connection_string(azurite.connection_string) as svc:
            store = ReceiptStore(svc.get_container_client(HOSTS_CONTAINER))
            await store.ensure_container()
            name = f"blobreceipts/t/{names()[0]}/x"
            assert await store.try_create_incomplete(name)
            props = await svc.get_blob_client(HOSTS_CONTAINER, name).get_blob_properties()
            assert props.metadata == {"Incomplete": "Incomplete"}
            assert not (await store.read(name)).complete
            assert not await store.try_create_incomplete(name)  # If-None-Match: *
            lease = await store.try_acquire_lease(name)
            assert lease is not None
            assert await store.try_acquire_lease(name) is None  # someone else holds it
            await store.mark_complete(name, lease)
            await store.release_lease(name, lease)
            assert (await store.read(name)).complete

    aio.run(go())


def test_receipt_leased_by_a_dead_host_is_retried_after_the_lease_expires(
    azurite: Azurite,
) -> None:
    # A host killed between taking the receipt's lease and enqueuing leaves an incomplete,
    # leased receipt; BlobTriggerExecutor returns "not succeeded" and the scan strategy tries
    # the blob again later (ScanBlobScanLogHybridPollingStrategy), even though its scan cursor
    # has moved on. Found by the repeated-SIGKILL test: the blob was never processed.
    from devhost.blobtrigger.receipts import INCOMPLETE  # noqa: PLC0415

    container, host_id = names()
    svc = BlobServiceClient.from_connection_string(azurite.connection_string)
    cc = svc.create_container(container)
    etag = cc.get_blob_client("held.png").upload_blob(b"h")["etag"]
    hosts = svc.get_container_client(HOSTS_CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        hosts.create_container()
    receipt = hosts.get_blob_client(
        receipt_name(host_id, "Host.Functions.Probe", etag, container, "held.png")
    )
    left = receipt.upload_blob(b"", metadata={INCOMPLETE: INCOMPLETE})["last_modified"]
    receipt.acquire_lease(lease_duration=15)  # the dead host's lease
    rec = Recorder()
    run_listener(azurite, container, host_id, rec, until=lambda: bool(rec.events), timeout=40)
    assert [e.blob_name for e in rec.events] == ["held.png"]
    # Completed only once the lease had expired (storage's clock; Last-Modified has 1 s steps).
    completed = receipt.get_blob_properties()
    assert completed.metadata == {}
    assert completed.last_modified - left >= timedelta(seconds=14)
