"""Durable features through devhost, checked with the SDK's own DurableOrchestrationClient
talking to devhost's HTTP API (tests/apps/durable_app holds one small orchestrator each)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.data.tables import TableServiceClient

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from devhost.remote_api import iter_pages
from devhost.webhooks.routes import client_binding_json
from tests.sdk import arun

pytestmark = pytest.mark.e2e
APP = Path(__file__).resolve().parent.parent / "apps" / "durable_app"
HUB = "FeatureHub"


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    log = tmp_path_factory.mktemp("durable") / "devhost.log"
    proc = DevhostProcess(
        app_dir=APP, storage_connection_string=azurite.connection_string, log_path=log
    )
    proc.start()
    yield proc
    proc.stop()


def client(host: DevhostProcess) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(client_binding_json(host.base_url, HUB))


async def finish(c: df.DurableOrchestrationClient, instance_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = await c.get_status(instance_id, show_history=True, show_history_output=True)
        if status.runtime_status and status.runtime_status.value in (
            "Completed",
            "Failed",
            "Terminated",
        ):
            return status
        assert time.monotonic() < deadline, f"{instance_id} still {status.runtime_status}"
        await asyncio.sleep(0.2)


def run(host: DevhostProcess, name: str, payload: Any = None, timeout: float = 60) -> Any:
    async def go() -> Any:
        c = client(host)
        instance_id = await c.start_new(name, None, payload)
        return await finish(c, instance_id, timeout)

    return arun(go())


def test_chaining_with_custom_status_and_history(host: DevhostProcess) -> None:
    status = run(host, "Chain", ["Tokyo", "Seattle"])
    assert status.runtime_status.value == "Completed"
    assert status.output == ["Hello Tokyo!", "Hello Seattle!"]
    assert status.custom_status == {"done": 2}
    kinds = [e["EventType"] for e in status.historyEvents]
    # The extension folds each TaskScheduled into its completion (DurableClient.cs L960-974).
    assert kinds == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    assert [e.get("FunctionName") for e in status.historyEvents[1:3]] == ["Hello", "Hello"]


def test_fan_out_fan_in(host: DevhostProcess) -> None:
    names = [f"n{i:02d}" for i in range(20)]
    status = run(host, "FanOut", names)
    assert status.output == sorted(f"Hello {n}!" for n in names)


def test_durable_timer_waits(host: DevhostProcess) -> None:
    started = time.monotonic()
    status = run(host, "Timer", 2)
    assert status.output >= 2.0
    assert time.monotonic() - started >= 2.0


def test_external_event_raised_through_the_client(host: DevhostProcess) -> None:
    async def go() -> Any:
        c = client(host)
        instance_id = await c.start_new("Approval", None, 30)
        await asyncio.sleep(1.0)
        await c.raise_event(instance_id, "Approval", {"by": "alice"})
        return await finish(c, instance_id)

    status = arun(go())
    # The SDK double-encodes event data and the extension passes the body through unchanged, so
    # the orchestrator receives the JSON text (HttpApiHandler.cs L1006-1018; SDK issue #295).
    assert status.output == {"approved": json.dumps({"by": "alice"})}


def test_external_event_timeout_via_task_any(host: DevhostProcess) -> None:
    assert run(host, "Approval", 1).output == {"approved": None, "timedOut": True}


def test_sub_orchestrations(host: DevhostProcess) -> None:
    status = run(host, "Parent")
    assert status.output == {"chain": ["Hello A!", "Hello B!"], "fanout": ["Hello x!", "Hello y!"]}


def test_retry_then_success(host: DevhostProcess, tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    status = run(host, "Retry", {"counter": str(counter), "succeed_on": 3})
    assert status.output == "ok after 3"
    assert counter.read_text() == "3"


def test_retry_exhausted_fails_visibly(host: DevhostProcess, tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    status = run(host, "Retry", {"counter": str(counter), "succeed_on": 99})
    assert status.runtime_status.value == "Failed"
    assert "Flaky" in json.dumps(status.output) and "flaky failure 3" in json.dumps(status.output)
    assert counter.read_text() == "3"  # exactly max_number_of_attempts


def test_failure_propagates_into_user_code(host: DevhostProcess, tmp_path: Path) -> None:
    status = run(host, "CatchFailure", {"counter": str(tmp_path / "c"), "succeed_on": 99})
    assert status.runtime_status.value == "Completed"
    assert status.output["after"] == "Hello recovered!"
    assert (
        "Activity function 'Flaky' failed: ValueError: flaky failure 2" in status.output["caught"]
    )


def test_continue_as_new(host: DevhostProcess) -> None:
    status = run(host, "Counter", 0)
    assert status.runtime_status.value == "Completed"
    assert status.output == 3


def test_large_results_go_through_largemessages(host: DevhostProcess, azurite: Azurite) -> None:
    status = run(host, "Big", 200_000)
    assert status.output == {"length": 200_000, "head": "xxx"}
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    names = [b.name for b in blobs.get_container_client("featurehub-largemessages").list_blobs()]
    # MessageManager.GetNewLargeMessageBlobName / AzureTableTrackingStore.GetBlobName layout
    assert any(
        re.fullmatch(r"[^/]+/message-[0-9a-f]{32}-TaskCompleted\.json\.gz", n) for n in names
    )
    assert any(
        re.fullmatch(r"[^/]+/history-[0-9A-F]{16}-TaskCompleted-[0-9A-F]{8}-Result\.json\.gz", n)
        for n in names
    )


def test_task_hub_info_blob_like_blob_partition_lease_manager(azurite: Azurite) -> None:
    # BlobPartitionLeaseManager.cs L30/L247-255 (taskhub.json), TaskHubInfo.cs L20-29,
    # AzureStorageOrchestrationService.cs L229 ("{hub}-leases")
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    raw = blobs.get_blob_client("featurehub-leases", "taskhub.json").download_blob().readall()
    info = json.loads(raw)
    assert info["TaskHubName"] == HUB and info["PartitionCount"] == 4
    assert info["CreatedAt"].endswith("Z")


def test_terminate_suspend_resume_and_purge(host: DevhostProcess) -> None:
    async def go() -> None:
        c = client(host)
        iid = await c.start_new("Approval", None, 300)
        await asyncio.sleep(1.0)
        await c.suspend(iid, "pause")
        await asyncio.sleep(1.5)
        assert (await c.get_status(iid)).runtime_status.value == "Suspended"
        await c.resume(iid, "go on")
        await asyncio.sleep(1.5)
        assert (await c.get_status(iid)).runtime_status.value == "Running"
        await c.terminate(iid, "no longer needed")
        status = await finish(c, iid)
        assert status.runtime_status.value == "Terminated"
        assert status.output == "no longer needed"
        purged = await c.purge_instance_history(iid)
        assert purged.instances_deleted == 1
        assert (await c.get_status(iid)).runtime_status is None

    arun(go())


def test_duplicate_start_is_refused_while_running(host: DevhostProcess) -> None:
    async def go() -> None:
        c = client(host)
        await c.start_new("Approval", "fixed-id", 300)
        with pytest.raises(Exception, match="already exists"):
            await c.start_new("Approval", "fixed-id", 300)
        await c.terminate("fixed-id", "done")
        await finish(c, "fixed-id")
        await c.start_new("Chain", "fixed-id", ["again"])  # terminal: overwritten
        assert (await finish(c, "fixed-id")).output == ["Hello again!"]

    arun(go())


def test_status_query_filters_and_paging(host: DevhostProcess) -> None:
    async def go() -> None:
        c = client(host)
        ids = [await c.start_new("Chain", f"page-{i}", ["p"]) for i in range(5)]
        for iid in ids:
            await finish(c, iid)
        completed = await c.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Completed])
        assert set(ids) <= {s.instance_id for s in completed}

    arun(go())
    seen = []  # raw API paging with continuation tokens (what the HTTP API exposes)
    query = {"top": 2, "instanceIdPrefix": "page-"}
    pages = iter_pages(host.base_url, query, api_path="/runtime/webhooks/durabletask")
    for page in pages:
        assert len(page) <= 2
        seen += [p["instanceId"] for p in page]
    assert sorted(seen) == [f"page-{i}" for i in range(5)]


def test_http_trigger_starts_an_orchestration(host: DevhostProcess) -> None:
    req = urllib.request.Request(
        host.base_url + "/api/orchestrators/Chain",
        method="POST",
        data=json.dumps(["Http"]).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 202
        body = json.loads(resp.read())
    status = arun(finish(client(host), body["id"]))
    assert status.output == ["Hello Http!"]


def test_task_hub_tables_use_the_durabletask_layout(host: DevhostProcess, azurite: Azurite) -> None:
    run(host, "Chain", ["layout"])
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    names = {t.name for t in tables.list_tables()}
    assert {f"{HUB}Instances", f"{HUB}History"} <= names
    row = next(iter(tables.get_table_client(f"{HUB}History").list_entities()))
    assert len(row["RowKey"]) == 16 and row["EventType"] in (
        "ExecutionStarted",
        "TaskScheduled",
        "TaskCompleted",
        "ExecutionCompleted",
        "OrchestratorStarted",
        "OrchestratorCompleted",
    )


def test_restart_after_lost_first_row_write_does_not_restart_the_orchestration(
    host: DevhostProcess, azurite: Azurite
) -> None:
    """SIGKILL between the first episode's history batch and its row write leaves the row
    Pending; the restarted host re-sends the start. That start is a duplicate: the history
    already began, so it must neither replay the episode nor rewrite the history rows."""
    instance_id = "lost-row-write"
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    instances = tables.get_table_client(f"{HUB}Instances")

    async def start() -> None:
        c = client(host)
        await c.start_new("Approval", instance_id, 60)
        deadline = time.monotonic() + 30
        while (await c.get_status(instance_id)).runtime_status.value != "Running":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)

    arun(start())
    host.kill()
    row = instances.get_entity(instance_id, "")
    row["RuntimeStatus"] = "Pending"
    instances.upsert_entity(row)
    host.start()  # start-up re-sends ExecutionStarted for every Pending row

    async def finish_it() -> Any:
        c = client(host)
        deadline = time.monotonic() + 30
        while (await c.get_status(instance_id)).runtime_status.value != "Running":
            assert time.monotonic() < deadline, "the duplicate start was never settled"
            await asyncio.sleep(0.1)
        await c.raise_event(instance_id, "Approval", {"by": "bob"})
        return await finish(c, instance_id)

    status = arun(finish_it())
    assert status.runtime_status.value == "Completed"
    assert status.output == {"approved": json.dumps({"by": "bob"})}  # event data as JSON text
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds.count("ExecutionStarted") == 1
    assert f"Processing {instance_id} failed" not in host.log_tail(100000)


def test_history_has_the_sentinel_row_of_the_current_execution(
    host: DevhostProcess, azurite: Azurite
) -> None:
    # AzureTableTrackingStore.cs UploadHistoryBatch L1392-1420: every checkpoint batch writes the
    # "sentinel" row (ExecutionId, IsCheckpointComplete, CheckpointCompletedTimestamp); readers
    # take the current execution from it (GetHistoryEventsAsync L157-171).
    status = run(host, "Chain", ["Tokyo"])
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    key = status.instance_id.replace("'", "''")
    rows = list(tables.get_table_client(f"{HUB}History").query_entities(f"PartitionKey eq '{key}'"))
    [sentinel] = [r for r in rows if r["RowKey"] == "sentinel"]
    instance = tables.get_table_client(f"{HUB}Instances").get_entity(status.instance_id, "")
    assert sentinel["ExecutionId"] == instance["ExecutionId"]
    assert sentinel["IsCheckpointComplete"] is True
    assert sentinel["CheckpointCompletedTimestamp"] is not None
    events = [r for r in rows if r["RowKey"] != "sentinel"]
    assert {r["ExecutionId"] for r in events} == {instance["ExecutionId"]}
