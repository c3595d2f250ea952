"""An activity's output bindings use the binding data the Durable extension gives its trigger,
written by devhost's real blob binding into a real Azurite."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from devhost.bindings import BindingIO
from devhost.durabletask.core.activity_dispatcher import ActivityDispatcher
from devhost.durabletask.model.history import EventType
from devhost.durabletask.model.messages import ActivityRequest
from devhost.invoker import Invoker
from devhost.loader import FunctionSpec
from devhost.runner import HostRunner
from tests.devhost.workerapp import worker_app

GUID_TXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.txt")


@pytest.fixture(scope="module")
def functions() -> Iterator[dict[str, FunctionSpec]]:
    with worker_app() as loaded:
        yield loaded


def test_an_activity_output_path_can_name_the_instance_id_and_the_input(
    functions: dict[str, FunctionSpec], azurite: Azurite
) -> None:
    # azure-functions-durable-extension a7c6d694 ActivityTriggerAttributeBindingProvider.cs
    # L90-106 (the binding data contract: instanceId, the parameter, data) and L143-156
    # (bindingData["instanceId"] = the orchestration's instance id, ["data"] = the input).
    # Before: "{instanceId}" failed the activity with "no value for '{instanceId}'".
    io = BindingIO({"AzureWebJobsStorage": azurite.connection_string}, {})
    runner = HostRunner(functions, Invoker(functions), "{}", io)
    dispatcher = ActivityDispatcher(cast(Any, None), runner)

    async def run() -> Any:
        try:
            ev = await dispatcher.execute(ActivityRequest("inst-42", "e", "Saver", '"v1"', 0))
            # run by hand (the admin API): BindAsync makes a DurableActivityContext with a new
            # Guid as its instance id (L113-123)
            await runner.run_activity("Saver", '"by-hand"')
            return ev
        finally:
            await io.close()

    ev = asyncio.run(run())
    assert ev["EventType"] == EventType.TaskCompleted, ev.get("Reason")
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    out = service.get_container_client("wc-out")
    assert out.download_blob("inst-42.txt").readall() == b"saved v1"
    assert out.download_blob("data-v1.txt").readall() == b"saved v1"
    by_guid = [b.name for b in out.list_blobs() if GUID_TXT.fullmatch(b.name)]
    assert [out.download_blob(n).readall() for n in by_guid] == [b"saved by-hand"]
