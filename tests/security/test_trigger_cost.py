"""Issue 12 item 6: what a big blob costs the trigger, and the metadata-only option.

A v1 Python blobTrigger hands the function an InputStream holding the whole blob (the host
downloads it and sends it to the worker), so even a 200 MB `.mp4` that is skipped by name costs
its size in memory first (`python -m bench --only trigger` measures it: +191 MB for 200 MB,
+1.9 GB for 2 GB in the worker alone). The optional EventGridTriggerClient starts from the
BlobCreated event's metadata instead. These tests pin that option's behaviour; the figures are
in the bench, not asserted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from azure.functions import meta

from imagemeta.blobref import INPUT_CONTAINER, BlobRef
from tests.conftest import REPO_ROOT

OPTION = REPO_ROOT / "options" / "eventgrid" / "EventGridTriggerClient"


def event(subject: str, **data: Any) -> dict[str, Any]:
    """A BlobCreated event in the Event Grid schema, as Azure Storage sends it."""
    return {
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "topic": "/subscriptions/x/resourceGroups/image-metadata-rg/providers/"
        "Microsoft.Storage/storageAccounts/imagemetadatastorage",
        "subject": subject,
        "eventType": data.pop("eventType", "Microsoft.Storage.BlobCreated"),
        "eventTime": "2026-11-25T18:41:00.9584103Z",
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {
            "api": "PutBlockList",
            "eTag": "0x8DEC0FFEE0000AA",
            "contentType": "image/jpeg",
            "contentLength": 2_000_000_000,
            "blobType": "BlockBlob",
            "url": "https://imagemetadatastorage.blob.core.windows.net/images-input/a%20b.jpg",
            "sequencer": "00000000000004420000000000028963",
            **data,
        },
    }


def _load_option() -> ModuleType:
    spec = importlib.util.spec_from_file_location("EventGridTriggerClient", OPTION / "__init__.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fire(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[BlobRef]:
    """Run the option's function on an event decoded by azure.functions' own converter."""
    module = _load_option()
    started: list[BlobRef] = []

    async def fake_start(_client: object, ref: BlobRef) -> str:
        started.append(ref)
        return ref.instance_id

    monkeypatch.setattr(module, "start_for_blob", fake_start)
    monkeypatch.setattr(module.df, "DurableOrchestrationClient", lambda _s: object())
    decoded = func.eventgrid.EventGridEventInConverter.decode(
        meta.Datum(type="json", value=json.dumps(body)), trigger_metadata=None
    )
    asyncio.run(module.main(decoded, "{}"))
    return started


def test_watched_container_is_the_blob_trigger_path() -> None:
    """Guards: the one container ExtractMetadata reads is the one the trigger watches."""
    spec = json.loads((REPO_ROOT / "BlobTriggerClient" / "function.json").read_text())
    (trigger,) = [b for b in spec["bindings"] if b["type"] == "blobTrigger"]
    assert trigger["path"] == f"{INPUT_CONTAINER}/{{name}}"


def test_option_never_binds_the_blob_content() -> None:
    """Guards: the option's bindings are the event and the durable client only (no bytes)."""
    spec = json.loads((OPTION / "function.json").read_text())
    assert sorted(b["type"] for b in spec["bindings"]) == ["durableClient", "eventGridTrigger"]


def test_blob_created_event_starts_a_reference_from_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards: a 2 GB upload becomes a small reference (same id as the blob trigger's)."""
    (ref,) = _fire(
        event(f"/blobServices/default/containers/{INPUT_CONTAINER}/blobs/cats/a b.jpg"), monkeypatch
    )
    assert (ref.container, ref.name, ref.etag, ref.length) == (
        INPUT_CONTAINER,
        "cats/a b.jpg",
        '"0x8DEC0FFEE0000AA"',
        2_000_000_000,
    )
    same = BlobRef(INPUT_CONTAINER, "cats/a b.jpg", "", 0, '"0x8DEC0FFEE0000AA"')
    assert ref.instance_id == same.instance_id  # duplicates with the blob trigger collapse


@pytest.mark.parametrize(
    "body",
    [
        event("/blobServices/default/containers/images-input/blobs/movie.mp4"),
        event("/blobServices/default/containers/private-other/blobs/secret-doc.png"),
        event("/blobServices/default/containers/images-input/blobs/../x/a.png"),
        event(
            "/blobServices/default/containers/images-input/blobs/a.png",
            eventType="Microsoft.Storage.BlobDeleted",
        ),
        event("/blobServices/default/containers/images-input/blobs/a.png", eTag=None),
        event("/queueServices/default/queues/q/messages/a.png"),
    ],
)
def test_other_events_start_nothing(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _fire(body, monkeypatch) == []


def test_option_folder_is_outside_the_app_root() -> None:
    """Guards: the option is opt-in: the host (and devhost) load only top-level folders."""
    assert not (REPO_ROOT / "EventGridTriggerClient").exists()
    assert isinstance(OPTION, Path) and (OPTION / "__init__.py").is_file()
