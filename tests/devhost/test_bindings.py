"""Blob input, blob output and queue output bindings through devhost, against a real Azurite
(tests/apps/bindings_app). What the host's storage extensions do: path templates from the
trigger's binding data, a missing input blob binds as null, outputs are written after the
function succeeds, queue messages are base64 by default (Microsoft.Azure.WebJobs.Extensions.
Storage.Queues QueuesOptions.MessageEncoding)."""

from __future__ import annotations

import base64
import contextlib
import urllib.request
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from devhost.bindings import BindingError, resolve
from devhost.process import REPO_ROOT, DevhostProcess
from tests.waiting import wait_until

APP = REPO_ROOT / "tests" / "apps" / "bindings_app"


def test_resolve_fills_tokens_case_insensitively_and_refuses_unknown_ones() -> None:
    assert resolve("out/{Name}.copy", {"name": "cats/1.png"}) == "out/cats/1.png.copy"
    assert len(resolve("x/{rand-guid}", {})) == len("x/") + 36
    with pytest.raises(BindingError, match=r"no value for '\{missing\}'"):
        resolve("x/{missing}", {})


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    log = tmp_path_factory.mktemp("bindings") / "devhost.log"
    proc = DevhostProcess(
        app_dir=APP, storage_connection_string=azurite.connection_string, log_path=log
    )
    proc.start()
    yield proc
    proc.stop()


def wait_blob(service: BlobServiceClient, container: str, name: str) -> bytes:
    blob = service.get_blob_client(container, name)
    [data] = wait_until(
        lambda: [blob.download_blob().readall()],  # a list: an empty blob is written too
        timeout=30,
        interval=0.3,
        message=f"{container}/{name} never written",
        ignore=(ResourceNotFoundError,),
    )
    return data


@pytest.mark.e2e
def test_blob_in_out_and_queue_out(host: DevhostProcess, azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    for c in ("bind-in", "bind-ref"):
        with contextlib.suppress(ResourceExistsError):
            service.create_container(c)
    service.get_blob_client("bind-ref", "a.txt").upload_blob(b"REF", overwrite=True)
    service.get_blob_client("bind-in", "a.txt").upload_blob(b"DATA", overwrite=True)
    service.get_blob_client("bind-in", "b.txt").upload_blob(b"LONE", overwrite=True)
    assert wait_blob(service, "bind-out", "a.txt.copy") == b"DATA|REF"
    assert wait_blob(service, "bind-out", "b.txt.copy") == b"LONE|<no ref>"
    queue = QueueClient.from_connection_string(azurite.connection_string, "bind-notes")
    notes: set[str] = set()

    def two_notes() -> bool:
        for m in queue.receive_messages():
            notes.add(base64.b64decode(m.content).decode())
            queue.delete_message(m)
        return len(notes) >= 2

    wait_until(two_notes, timeout=30, message=lambda: f"queue notes so far: {notes}")
    assert notes == {"copied bind-in/a.txt", "copied bind-in/b.txt"}


@pytest.mark.e2e
def test_http_trigger_blob_output_from_route_parameter(
    host: DevhostProcess, azurite: Azurite
) -> None:
    req = urllib.request.Request(f"{host.base_url}/api/write/7", data=b"hello", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert wait_blob(service, "bind-out", "http-7.txt") == b"hello"
