"""Durable features as user code sees them (tests/apps/durable_app: one small orchestrator each),
driven by the SDK's DurableOrchestrationClient, and the storage layout they leave behind.
Paths: src/WebJobs.Extensions.DurableTask/ of the extension; DTFx = DurableTask.Core and
DurableTask.AzureStorage at durabletask.azurestorage-v1.17.5 (versions: conftest.py)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from devhost.durabletask.azurestorage.names import escape_key
from devhost.remote_api import iter_pages
from tests.conformance.conftest import Host
from tests.sdk import arun

pytestmark = pytest.mark.e2e


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sdk_status(host: Host, instance_id: str) -> Any:
    """The SDK's view of an instance once it is terminal, history included."""
    host.wait(instance_id)

    async def get() -> Any:
        return await host.client().get_status(
            instance_id, show_history=True, show_history_output=True
        )

    return arun(get())


def run(host: Host, name: str, payload: Any = None) -> Any:
    async def start() -> str:
        return str(await host.client().start_new(name, None, payload))

    return sdk_status(host, arun(start()))


def history_rows(host: Host, instance_id: str) -> list[dict[str, Any]]:
    tables = TableServiceClient.from_connection_string(host.azurite.connection_string)
    key = escape_key(instance_id).replace("'", "''")
    history = tables.get_table_client(f"{host.hub}History")
    return list(history.query_entities(f"PartitionKey eq '{key}'"))


def instant(value: datetime | str) -> datetime:
    """A row's timestamp: a table datetime, or ISO 8601 text with up to 7 fraction digits."""
    if isinstance(value, datetime):
        return value
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


# DurableClient.cs L960-974 (TaskScheduled folded into its completion, with FunctionName) and
# L1088 (CustomStatus: the last value the orchestrator set).
def test_chaining_with_custom_status_and_history(host: Host) -> None:
    status = run(host, "Chain", ["Tokyo", "Seattle"])
    assert status.runtime_status.value == "Completed"
    assert status.output == ["Hello Tokyo!", "Hello Seattle!"]
    assert status.custom_status == {"done": 2}
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    assert [e.get("FunctionName") for e in status.historyEvents[1:3]] == ["Hello", "Hello"]


# OutOfProcOrchestrationShim.cs L180-182 (WhenAll) + DTFx TaskOrchestrationDispatcher.cs L409-417
# (one TaskScheduled and one work-item message per activity of the episode).
def test_fan_out_fan_in(host: Host) -> None:
    names = [f"n{i:02d}" for i in range(20)]
    status = run(host, "FanOut", names)
    assert status.output == sorted(f"Hello {n}!" for n in names)
    assert [e["EventType"] for e in status.historyEvents].count("TaskCompleted") == 20


# DTFx TaskOrchestrationDispatcher.cs L1049-1077 (ProcessCreateTimerDecision: TimerCreated and
# the TimerFired message carry the orchestrator's own FireAt) and AzureStorage TaskHubQueue.cs
# L181-190 (the TimerFired message stays invisible until FireAt). The SDK's current_utc_datetime
# is the episode's OrchestratorStarted timestamp, so all of it is read from the host's records.
def test_durable_timer_fires_at_the_time_the_orchestrator_asked(host: Host) -> None:
    status = run(host, "Timer", 2)
    assert status.runtime_status.value == "Completed"
    rows = sorted(history_rows(host, status.instance_id), key=lambda r: str(r["RowKey"]))
    of = {kind: [r for r in rows if r.get("EventType") == kind] for kind in
          ("OrchestratorStarted", "TimerCreated", "TimerFired")}  # fmt: skip
    episodes = [instant(r["_Timestamp"]) for r in of["OrchestratorStarted"]]
    [created] = [instant(r["FireAt"]) for r in of["TimerCreated"]]
    [fired] = [instant(r["FireAt"]) for r in of["TimerFired"]]
    assert len(episodes) == 2
    assert created == fired == episodes[0] + timedelta(seconds=2)
    assert episodes[1] >= fired  # the episode that saw the timer fire began no earlier
    assert status.output == (episodes[1] - episodes[0]).total_seconds()


# OutOfProcOrchestrationShim.cs L183-185 (WhenAny) and L118-134 (CreateTimer; a timer the
# orchestrator cancels is never awaited): the timer wins when no event comes.
def test_external_event_timeout_via_task_any(host: Host) -> None:
    assert run(host, "Approval", 1).output == {"approved": None, "timedOut": True}


# OutOfProcOrchestrationShim.cs L139-141 + DTFx TaskOrchestrationDispatcher.cs L1081-1137
# (ProcessCreateSubOrchestrationInstanceDecision; the child's id as given, else a new one).
def test_sub_orchestrations(host: Host) -> None:
    status = run(host, "Parent")
    assert status.output == {"chain": ["Hello A!", "Hello B!"], "fanout": ["Hello x!", "Hello y!"]}
    child = host.status(f"{status.instance_id}-child").json()
    assert (child["name"], child["runtimeStatus"]) == ("FanOut", "Completed")


# OutOfProcOrchestrationShim.cs L136-138 -> DurableOrchestrationContext.cs L584 (ScheduleWithRetry)
# -> DTFx RetryInterceptor.cs L57-91: up to MaxNumberOfAttempts calls, a timer between them.
def test_retry_then_success(host: Host, tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    status = run(host, "Retry", {"counter": str(counter), "succeed_on": 3})
    assert status.output == "ok after 3"
    assert counter.read_text() == "3"


# Same: after the last attempt the failure is the orchestration's.
def test_retry_exhausted_fails_visibly(host: Host, tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    status = run(host, "Retry", {"counter": str(counter), "succeed_on": 99})
    assert status.runtime_status.value == "Failed"
    assert "Flaky" in json.dumps(status.output) and "flaky failure 3" in json.dumps(status.output)
    assert counter.read_text() == "3"  # exactly max_number_of_attempts


# TaskActivityShim.cs L122-124: the failure user code catches reads
# "Activity function '{name}' failed: {message}".
def test_failure_propagates_into_user_code(host: Host, tmp_path: Path) -> None:
    status = run(host, "CatchFailure", {"counter": str(tmp_path / "c"), "succeed_on": 99})
    assert status.runtime_status.value == "Completed"
    assert status.output["after"] == "Hello recovered!"
    assert (
        "Activity function 'Flaky' failed: ValueError: flaky failure 2" in status.output["caught"]
    )


# OutOfProcOrchestrationShim.cs L170-173 + DTFx TaskOrchestrationDispatcher.cs L915-935 (a new
# ExecutionStarted with a new execution id; the status shows the last execution only).
def test_continue_as_new(host: Host) -> None:
    status = run(host, "Counter", 0)
    assert status.runtime_status.value == "Completed"
    assert status.output == 3
    assert [e["EventType"] for e in status.historyEvents].count("ExecutionStarted") == 1


# DTFx MessageManager.GetNewLargeMessageBlobName and AzureTableTrackingStore.GetBlobName: a
# result too big for a queue message or a table column goes to {hub}-largemessages.
def test_large_results_go_through_largemessages(host: Host) -> None:
    status = run(host, "Big", 200_000)
    assert status.output == {"length": 200_000, "head": "xxx"}
    blobs = BlobServiceClient.from_connection_string(host.azurite.connection_string)
    container = blobs.get_container_client(f"{host.hub.lower()}-largemessages")
    prefix = escape_key(status.instance_id) + "/"
    names = [b.name for b in container.list_blobs(name_starts_with=prefix)]
    assert any(
        re.fullmatch(r"[^/]+/message-[0-9a-f]{32}-TaskCompleted\.json\.gz", n) for n in names
    )
    assert any(
        re.fullmatch(r"[^/]+/history-[0-9A-F]{16}-TaskCompleted-[0-9A-F]{8}-Result\.json\.gz", n)
        for n in names
    )


# DTFx BlobPartitionLeaseManager.cs L30/L247-255 (taskhub.json), TaskHubInfo.cs L20-29,
# AzureStorageOrchestrationService.cs L229 ("{hub}-leases").
def test_task_hub_info_blob_like_blob_partition_lease_manager(host: Host) -> None:
    blobs = BlobServiceClient.from_connection_string(host.azurite.connection_string)
    leases = f"{host.hub.lower()}-leases"
    info = json.loads(blobs.get_blob_client(leases, "taskhub.json").download_blob().readall())
    assert info["TaskHubName"] == host.hub and info["PartitionCount"] == 4
    assert info["CreatedAt"].endswith("Z")


# HttpApiHandler.cs L809-855 (suspend, resume), L785-807 (terminate: the reason is the output),
# L554-567 (purge) through the SDK's calls; test_operations.py pins their error statuses.
def test_suspend_resume_terminate_and_purge_through_the_sdk(host: Host) -> None:
    client = host.client
    iid = arun(client().start_new("Approval", None, 300))
    host.wait(iid, {"Running"})
    arun(client().suspend(iid, "pause"))
    host.wait(iid, {"Suspended"})
    assert arun(client().get_status(iid)).runtime_status.value == "Suspended"
    arun(client().resume(iid, "go on"))
    host.wait(iid, {"Running"})
    arun(client().terminate(iid, "no longer needed"))
    status = sdk_status(host, iid)
    assert status.runtime_status.value == "Terminated"
    assert status.output == "no longer needed"
    assert arun(client().purge_instance_history(iid)).instances_deleted == 1
    assert arun(client().get_status(iid)).runtime_status is None


# DurableTaskOptions.cs L188 (OverridableExistingInstanceStates = NonRunningStates) and
# OverridableStates.cs L35-41: only Running, ContinuedAsNew, Pending and Suspended ids are refused
# (test_start.py pins the refusal); a Terminated id is overwritten by the next start.
def test_a_terminated_instance_id_can_be_started_again(host: Host) -> None:
    iid = new_id("again")
    arun(host.client().start_new("Approval", iid, 300))
    host.wait(iid, {"Running"})
    arun(host.client().terminate(iid, "done"))
    host.wait(iid, {"Terminated"})
    arun(host.client().start_new("Chain", iid, ["again"]))
    status = sdk_status(host, iid)
    assert (status.name, status.output) == ("Chain", ["Hello again!"])


# HttpApiHandler.cs L490-509 on the public webhook path (what a deployed app exposes, and what
# devhost.remote_api pages through for the monitor and `status`): pages of `top`, continuation
# tokens until the last page. test_status_query.py pins the internal path.
def test_webhook_path_pages_with_continuation_tokens(host: Host) -> None:
    prefix = new_id("page")
    ids = [f"{prefix}-{i}" for i in range(5)]
    for iid in ids:
        assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["p"]).status == 202
    for iid in ids:
        host.wait(iid)
    seen: list[str] = []
    query = {"top": 2, "instanceIdPrefix": prefix}
    for page in iter_pages(host.base_url, query, api_path="/runtime/webhooks/durabletask"):
        assert len(page) <= 2
        seen += [p["instanceId"] for p in page]
    assert sorted(seen) == ids


# The app's own HTTP starter (tests/apps/durable_app/HttpStart): the SDK's
# create_check_status_response builds the reply from the binding's management URLs, which the
# extension makes in HttpApiHandler.cs L181-194 (CreateHttpManagementPayload).
def test_http_trigger_starts_an_orchestration(host: Host) -> None:
    req = urllib.request.Request(
        host.base_url + "/api/orchestrators/Chain",
        method="POST",
        data=json.dumps(["Http"]).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 202
        body = json.loads(resp.read())
    assert body["statusQueryGetUri"].startswith(f"{host.base_url}/runtime/webhooks/durabletask/")
    assert sdk_status(host, body["id"]).output == ["Hello Http!"]


# DTFx AzureStorageOrchestrationServiceSettings.cs L289-291 ({hub}History, {hub}Instances) and
# AzureTableTrackingStore.cs L1028 (history RowKey = sequence number as "X16").
def test_task_hub_tables_use_the_durabletask_layout(host: Host) -> None:
    status = run(host, "Chain", ["layout"])
    tables = TableServiceClient.from_connection_string(host.azurite.connection_string)
    names = {t.name for t in tables.list_tables()}
    assert {f"{host.hub}Instances", f"{host.hub}History"} <= names
    keys = sorted(str(r["RowKey"]) for r in history_rows(host, status.instance_id))
    assert keys == [f"{i:016X}" for i in range(len(keys) - 1)] + ["sentinel"]


# DTFx TaskOrchestrationDispatcher.cs L799-812: an ExecutionStarted for an instance whose
# history already has one is dropped ("Duplicate start event"): neither a replay of the first
# episode nor a rewrite of its history rows.
def test_restart_after_lost_first_row_write_does_not_restart_the_orchestration(
    host: Host,
) -> None:
    """SIGKILL between the first episode's history batch and its row write leaves the row
    Pending; the restarted host re-sends the start, and that start is a duplicate."""
    instance_id = new_id("lost-row-write")
    tables = TableServiceClient.from_connection_string(host.azurite.connection_string)
    instances = tables.get_table_client(f"{host.hub}Instances")
    arun(host.client().start_new("Approval", instance_id, 60))
    host.wait(instance_id, {"Running"})
    host.proc.kill()
    row = instances.get_entity(escape_key(instance_id), "")
    row["RuntimeStatus"] = "Pending"
    instances.upsert_entity(row)
    host.proc.start()  # start-up re-sends ExecutionStarted for every Pending row
    host.wait(instance_id, {"Running"})  # the duplicate start was settled
    arun(host.client().raise_event(instance_id, "Approval", {"by": "bob"}))
    status = sdk_status(host, instance_id)
    assert status.runtime_status.value == "Completed"
    assert status.output == {"approved": json.dumps({"by": "bob"})}  # event data as JSON text
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds.count("ExecutionStarted") == 1
    assert f"Processing {instance_id} failed" not in host.proc.log_tail(100000)


# DTFx AzureTableTrackingStore.cs UploadHistoryBatch L1392-1420: every checkpoint batch writes
# the "sentinel" row (ExecutionId, IsCheckpointComplete, CheckpointCompletedTimestamp); readers
# take the current execution from it (GetHistoryEventsAsync L157-171).
def test_history_has_the_sentinel_row_of_the_current_execution(host: Host) -> None:
    status = run(host, "Chain", ["Tokyo"])
    rows = history_rows(host, status.instance_id)
    [sentinel] = [r for r in rows if r["RowKey"] == "sentinel"]
    tables = TableServiceClient.from_connection_string(host.azurite.connection_string)
    instance = tables.get_table_client(f"{host.hub}Instances").get_entity(
        escape_key(status.instance_id), ""
    )
    assert sentinel["ExecutionId"] == instance["ExecutionId"]
    assert sentinel["IsCheckpointComplete"] is True
    assert sentinel["CheckpointCompletedTimestamp"] is not None
    events = [r for r in rows if r["RowKey"] != "sentinel"]
    assert {r["ExecutionId"] for r in events} == {instance["ExecutionId"]}
