"""What the blob trigger skipped, counted by reason (issue 23 item 6: skipped non-image files
appeared only in the host log): the app's reasons after its function ran, the host's own for a
name the path does not match or a version gone before it ran; one record per blob version."""

from __future__ import annotations

import asyncio
import contextlib
import json

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.blob.aio import ContainerClient as AsyncContainer
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

from devhost.azurite import Azurite
from devhost.blobtrigger.receipts import HOSTS_CONTAINER
from devhost.blobtrigger.skips import PATH_MISMATCH, VERSION_GONE, SkipLog, record_name, skip_counts
from devhost.blobtrigger.targets import host_queue_name
from tests.devhost.blobtrigger.test_listener import Recorder, names, run_listener


def counts(azurite: Azurite, host_id: str) -> dict[str, int]:
    return asyncio.run(skip_counts(azurite.connection_string, host_id))


def test_the_apps_reasons_are_counted_after_its_function_ran(azurite: Azurite) -> None:
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    for name in ("a.png", "notes.txt", "deep/ünï cødé.txt"):
        cc.upload_blob(name, b"x")
    asked: list[tuple[str, str]] = []

    def reason(function_name: str, blob_name: str) -> str | None:
        asked.append((function_name, blob_name))
        return "not a picture" if blob_name.endswith(".txt") else None

    rec = Recorder()
    run_listener(azurite, container, host_id, rec, until=lambda: len(rec.events) >= 3,
                 skip_reason=reason)  # fmt: skip
    # The function ran for each (the app decides inside it); the view named two as skipped.
    assert sorted(e.blob_name for e in rec.events) == ["a.png", "deep/ünï cødé.txt", "notes.txt"]
    assert sorted(asked) == [("Probe", n) for n in ("a.png", "deep/ünï cødé.txt", "notes.txt")]
    assert counts(azurite, host_id) == {"not a picture": 2}

    # Another version of a skipped blob is another skip; the same version is not counted twice.
    cc.upload_blob("notes.txt", b"v2", overwrite=True)
    again = Recorder()
    run_listener(azurite, container, host_id, again, until=lambda: len(again.events) >= 1,
                 skip_reason=reason)  # fmt: skip
    assert counts(azurite, host_id) == {"not a picture": 3}
    assert counts(azurite, "another" + host_id) == {}  # per host id


def test_names_the_path_does_not_match_are_counted_by_the_host(azurite: Azurite) -> None:
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    for name in ("a.png", "b.gif", "c.txt"):
        cc.upload_blob(name, b"x")
    rec = Recorder()
    run_listener(azurite, container, host_id, rec, until=lambda: len(rec.events) >= 1,
                 pattern="{name}.png")  # fmt: skip
    assert [e.blob_name for e in rec.events] == ["a.png"]
    assert counts(azurite, host_id) == {f"{PATH_MISMATCH} {container}/{{name}}.png": 2}


def test_no_records_no_container_no_counts(azurite: Azurite) -> None:
    assert counts(azurite, "never-ran") == {}


def test_a_version_gone_before_its_function_ran_is_counted(azurite: Azurite) -> None:
    # A message for a version since overwritten (as a crash between enqueue and run leaves
    # it): BlobQueueTriggerExecutor passes over it (If-Match fails); devhost counts it.
    container, host_id = names()
    cc = BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
        container
    )
    old = cc.get_blob_client("x.png").upload_blob(b"v1")["etag"]
    cc.upload_blob("x.png", b"v2", overwrite=True)
    queue = QueueClient.from_connection_string(
        azurite.connection_string, host_queue_name(host_id),
        message_encode_policy=BinaryBase64EncodePolicy(),
    )  # fmt: skip
    queue.create_queue()
    queue.send_message(json.dumps({
        "Type": "BlobTrigger", "FunctionId": "Host.Functions.Probe", "BlobType": "BlockBlob",
        "ContainerName": container, "BlobName": "x.png", "ETag": old,
    }).encode())  # fmt: skip
    rec = Recorder()
    run_listener(azurite, container, host_id, rec, until=lambda: len(rec.events) >= 1)
    assert [e.content for e in rec.events] == [b"v2"]
    assert counts(azurite, host_id) == {VERSION_GONE: 1}


def test_long_non_ascii_names_and_reasons_fit_the_metadata_limit(azurite: Azurite) -> None:
    _, host_id = names()
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    with contextlib.suppress(ResourceExistsError):
        service.create_container(HOSTS_CONTAINER)

    async def record() -> None:
        async with AsyncContainer.from_connection_string(
            azurite.connection_string, HOSTS_CONTAINER
        ) as hosts:
            log = SkipLog(hosts, host_id)
            await log.record("F", "c", "🙂" * 1024, '"0x1"', "raison non-ASCII : é" * 50)

    asyncio.run(record())
    (reason,) = counts(azurite, host_id)
    assert reason.startswith("raison non-ASCII : é")
    # Azure refuses more than 8 KB of metadata on a blob (Azurite does not check it).
    name = record_name(host_id, "F", "c", "🙂" * 1024, '"0x1"')
    metadata = service.get_blob_client(HOSTS_CONTAINER, name).get_blob_properties().metadata
    assert sum(len(k) + len(v) for k, v in metadata.items()) <= 8 * 1024
