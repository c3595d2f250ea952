"""The extension's end-to-end scenarios with two task hubs, ported: a client on one host raises
events into an instance of another host's task hub through the HTTP API's `taskHub` parameter
(HttpApiHandler.GetClient builds a client for that hub in the same storage account).
Scenarios: ActorOrchestration_WithTaskHubName (DurableTaskEndToEndTests.cs L3146) and
ExternalEvents_WithTaskHubName_MultipleNamesLooping (L4403), extension a7c6d694."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from tests.conformance.conftest import Host
from tests.conformance.e2e import APP, start, started_input, status, wait_custom_status, wait_for

pytestmark = pytest.mark.e2e
HUB1, HUB2 = "ConfE2eHubOne", "ConfE2eHubTwo"


@pytest.fixture(scope="module")
def hosts(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Host]]:
    started = []
    try:
        for hub in (HUB1, HUB2):
            root = tmp_path_factory.mktemp(hub)
            app = root / "app"
            shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__"))
            host_json = json.loads((app / "host.json").read_text())
            host_json["extensions"]["durableTask"]["hubName"] = hub
            (app / "host.json").write_text(json.dumps(host_json))
            proc = DevhostProcess(
                app_dir=app,
                storage_connection_string=azurite.connection_string,
                log_path=Path(root / "log"),
            )
            proc.start()
            started.append(Host(proc, hub, azurite))
        yield started
    finally:
        for host in started:
            host.proc.stop()


def raise_into(via: Host, hub: str, iid: str, name: str, data: Any = None) -> None:
    """client2.RaiseEventAsync(taskHubName1, instanceId, ...): the same call on the wire."""
    path = f"/durabletask/instances/{iid}/raiseEvent/{name}?taskHub={hub}"
    reply = via.post_json(path, data)
    assert reply.status == 202, reply.body


def test_actor_orchestration_with_task_hub_name(hosts: list[Host]) -> None:
    host1, host2 = hosts
    iid = start(host1, "Counter", 0)
    wait_for(host1, iid, {"Running"})
    other = start(host2, "SayHelloWithActivity", "World")
    for op, value in [("incr", 1), ("incr", 2), ("incr", 3), ("decr", 2), ("incr", 3)]:
        raise_into(host2, HUB1, iid, "operation", op)
        wait_custom_status(host1, iid, value)
    assert status(host1, iid)["runtimeStatus"] in ("Running", "ContinuedAsNew")
    raise_into(host2, HUB1, iid, "operation", "end")
    st = wait_for(host1, iid)
    assert (st["runtimeStatus"], st["output"], started_input(st)) == ("Completed", 3, 3)
    assert wait_for(host2, other)["output"] == "Hello, World!"
    assert host2.status(iid).status == 404  # the instance lives in the other hub only


def test_external_events_with_task_hub_name_multiple_names_looping(hosts: list[Host]) -> None:
    host1, host2 = hosts
    iid = start(host1, "Counter2")
    for name in ("incr", "incr", "done"):
        raise_into(host2, HUB1, iid, name)
    st = wait_for(host1, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", 2)
