"""The extension's end-to-end scenarios, ported: orchestrations, sub-orchestrations, status and
client operations. Each test names its scenario in test/Common/DurableTaskEndToEndTests.cs
(Azure/azure-functions-durable-extension a7c6d694) and keeps its assertions; where a Python
app observes something else in Azure, the comment says why. Functions: tests/apps/e2e_app."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.storage.blob import BlobServiceClient

from tests.conformance.conftest import Host
from tests.conformance.e2e import APP, history, start, started_input, status, wait_for
from tests.sdk import arun
from tests.waiting import wait_until

__all__ = ["APP"]  # the conftest's `host` runs this module on tests/apps/e2e_app
pytestmark = pytest.mark.e2e
BIG = (61 * 1024) // 2  # "the expected maximum payload size is 60 KB", in UTF-16 characters


def done(host: Host, name: str, value: Any = None, instance_id: str | None = None) -> Any:
    return wait_for(host, start(host, name, value, instance_id))


# HelloWorldOrchestration_Inline (L104)
def test_hello_world_orchestration_inline(host: Host) -> None:
    st = done(host, "SayHelloInline", "World")
    assert (st["runtimeStatus"], started_input(st), st["output"]) == (
        "Completed",
        "World",
        "Hello, World!",
    )


# ParentInstanceId_Not_Assigned_In_Orchestrator (L275): no parent; .NET prints null as ""
def test_parent_instance_id_not_assigned(host: Host) -> None:
    st = done(host, "ProvideParentInstanceId")
    assert (st["runtimeStatus"], st["output"]) == ("Completed", None)


# HelloWorldOrchestration_Activity (L806): no history unless asked
def test_hello_world_orchestration_activity(host: Host) -> None:
    iid = start(host, "SayHelloWithActivity", "World")
    wait_for(host, iid)

    async def go() -> Any:
        return await host.client().get_status(iid)

    sdk = arun(go())
    assert sdk.runtime_status == df.OrchestrationRuntimeStatus.Completed
    assert (json.loads(sdk.input_), sdk.output, sdk.history) == ("World", "Hello, World!", None)


# HelloWorldOrchestration_Activity_History (L828) and _ShowHistoryInputOutput (L839), via
# HelloWorldOrchestration_Activity_Main_Logic (L948-1011)
@pytest.mark.parametrize("with_output", [False, True])
def test_hello_world_orchestration_history(host: Host, with_output: bool) -> None:
    iid = start(host, "SayHelloWithActivity", "World")
    wait_for(host, iid)
    query = "?showHistory=true" + ("&showHistoryOutput=true" if with_output else "")
    events = history(host, iid, query)
    assert len(events) == 3
    assert (events[0]["EventType"], events[0]["FunctionName"]) == (
        "ExecutionStarted",
        "SayHelloWithActivity",
    )
    assert (events[1]["EventType"], events[1]["FunctionName"]) == ("TaskCompleted", "Hello")
    assert events[1]["Timestamp"] >= events[1]["ScheduledTime"]
    assert (events[2]["EventType"], events[2]["OrchestrationStatus"]) == (
        "ExecutionCompleted",
        "Completed",
    )
    assert events[0].get("Input") is not None
    if with_output:
        assert events[1]["Result"] == events[2]["Result"] == "Hello, World!"
    else:
        assert "Result" not in events[1] and "Result" not in events[2]


# HelloWorldActivityWithNewGUID (L850), VerifyUniqueGuids (L883), VerifySameGuidsOnReplay (L915)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SayHelloWithActivityWithDeterministicGuid", "World"),
        ("VerifyUniqueGuids", None),
        ("VerifySameGuidGeneratedOnReplay", None),
    ],
)
def test_replay_safe_guids(host: Host, name: str, value: Any) -> None:
    st = done(host, name, value)
    assert (st["runtimeStatus"], started_input(st), st["output"]) == ("Completed", value, True)


# HelloWorldOrchestration_Activity_CustomStatus (L1023)
def test_custom_status(host: Host) -> None:
    st = done(host, "SayHelloWithActivityAndCustomStatus", "World")
    assert st["runtimeStatus"] == "Completed" and started_input(st) == "World"
    assert st["customStatus"] == {"nextActions": ["A", "B", "C"], "foo": 2}
    assert st["output"] == "Hello, World!"


# SequentialOrchestration (L1114)
def test_sequential_orchestration(host: Host) -> None:
    st = done(host, "Factorial", 10)
    assert (st["runtimeStatus"], started_input(st), st["output"]) == ("Completed", 10, 3628800)


# ParallelOrchestration (L1157): DiskUsage fans out one activity per file
def test_parallel_orchestration(host: Host, tmp_path: Path) -> None:
    for n in range(1, 6):
        (tmp_path / f"f{n}").write_bytes(b"x" * n * 100)
    st = done(host, "DiskUsage", str(tmp_path))
    assert (st["runtimeStatus"], started_input(st)) == ("Completed", str(tmp_path))
    assert st["output"] == 1500  # the .NET test asserts > 0 over its own directory


# Orchestration_Activity (L1891): the sub-orchestration "{id}:0" runs SayHelloWithActivity
def test_orchestration_activity(host: Host) -> None:
    iid = start(host, "OrchestratorGreeting", "Tokyo")
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["instanceId"], st["name"]) == (
        "Completed",
        iid,
        "OrchestratorGreeting",
    )
    assert status(host, iid + ":0")["output"] == "Hello, Tokyo!"


COMPLEX = {
    "A": -42,
    "B": ["2026-01-02T03:04:05.678Z", "2027-01-02T03:04:05.678Z"],
    "C": "Value2",
    "D": {"E": str(uuid.uuid4()), "F": "01:30:00"},
}


# SubOrchestration_ComplexType (L1939), _History (L1950), _HistoryInputOutput (L1961), via
# SubOrchestration_ComplexType_Main_Logic (L2002-2094)
@pytest.mark.parametrize(
    "query", ["", "?showHistory=true", "?showHistory=true&showHistoryOutput=true"]
)
def test_sub_orchestration_complex_type(host: Host, query: str) -> None:
    args = {"FunctionName": "CallActivity", "Input": {"FunctionName": "Echo", "Input": COMPLEX}}
    iid = start(host, "CallOrchestrator", args)
    st = wait_for(host, iid, query=query)
    assert (st["runtimeStatus"], st["instanceId"], st["output"]) == ("Completed", iid, COMPLEX)
    if not query:
        assert "historyEvents" not in st
        return
    events = st["historyEvents"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "SubOrchestrationInstanceCompleted",
        "ExecutionCompleted",
    ]
    assert events[0]["FunctionName"] == "CallOrchestrator"
    assert events[1]["FunctionName"] == "CallActivity"
    assert events[2]["OrchestrationStatus"] == "Completed"
    assert events[0].get("Input") is not None
    if "Output" in query:
        assert events[1].get("Input") is not None
        assert events[1]["Result"] == events[2]["Result"] == COMPLEX
    else:
        assert "Result" not in events[1] and "Result" not in events[2]


# SubOrchestration_ParentInstanceId_Assigned (L1972)
def test_sub_orchestration_parent_instance_id(host: Host) -> None:
    iid = start(host, "CallOrchestrator", {"FunctionName": "ProvideParentInstanceId"})
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", iid)


# Orchestration_OnValidOrchestrator (L2659): CallOrchestrator -> SayHelloWithActivity -> Hello
def test_orchestration_on_valid_orchestrator(host: Host) -> None:
    parent = "PARENT_" + uuid.uuid4().hex
    input_json = json.dumps({"Foo": "ValidOrchestrator"})
    args = {
        "FunctionName": "SayHelloWithActivity",
        "InstanceId": parent + ":0",
        "Input": input_json,
    }
    st = wait_for(host, start(host, "CallOrchestrator", args, parent))
    assert (st["runtimeStatus"], st["instanceId"]) == ("Completed", parent)
    assert started_input(st)["FunctionName"] == "SayHelloWithActivity"
    assert "ValidOrchestrator" in started_input(st)["Input"]
    assert st["output"] == f"Hello, {input_json}!"


# AzureStorage_BigReturnValue_Orchestrator (L2828) / _Activity (L2865), autoFetch variants: a
# 61 KB output goes through the large-message blob and comes back whole. (One app cannot hold
# two functions called BigReturnValue: the activity is BigReturnValueActivity.)
@pytest.mark.parametrize("via", ["Orchestrator", "Activity"])
def test_big_return_value(host: Host, via: str) -> None:
    if via == "Orchestrator":
        iid = start(host, "BigReturnValue", BIG)
    else:
        iid = start(host, "CallActivity", {"FunctionName": "BigReturnValueActivity", "Input": BIG})
    st = wait_for(host, iid)
    assert st["runtimeStatus"] == "Completed"
    assert st["output"] == "*" * BIG


# GetStatus_InstanceNotFound (L2980): the SDK's get_status answers nothing for 404
def test_get_status_instance_not_found(host: Host) -> None:
    bogus = "BOGUS_" + uuid.uuid4().hex
    assert host.status(bogus).status == 404

    async def go() -> Any:
        return await host.client().get_status(bogus)

    assert arun(go()).runtime_status is None


# GetStatus_ShowInputFalse (L3000) / GetStatus_ShowInputDefault (L3017). The Python SDK never
# sends showInput=false (RpcManagementOptions._add_arg drops falsy values), so a Python app
# hides the input through the API's query parameter.
def test_get_status_show_input(host: Host) -> None:
    iid = start(host, "Counter", 1)
    wait_for(host, iid, {"Running"})
    assert status(host, iid, "?showInput=false")["input"] is None
    assert started_input(status(host, iid)) == 1

    async def go() -> Any:
        return await host.client().get_status(iid, show_input=False)

    assert arun(go()).input_ == "1"  # the SDK's flag never reaches the host
    arun(host.client().terminate(iid, "done"))


def expected_links(host: Host, iid: str) -> dict[str, str]:
    """ValidateHttpManagementPayload (L5958-5977), on devhost's webhook base."""
    hook = f"{host.base_url}/runtime/webhooks/durabletask/instances/{iid}"
    query = f"taskHub={host.hub}&connection=Storage"
    return {
        "statusQueryGetUri": f"{hook}?{query}",
        "sendEventPostUri": f"{hook}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{hook}/terminate?reason={{text}}&{query}",
        "restartPostUri": f"{hook}/restart?{query}",
    }


# OrchestrationClient_Gets_HttpManagementPayload (L3099)
def test_client_gets_http_management_payload(host: Host) -> None:
    iid = start(host, "SayHelloInline", "World")
    st = wait_for(host, iid)
    payload = host.client().create_http_management_payload(iid)
    assert payload["id"] == iid
    assert {k: payload[k] for k in expected_links(host, iid)} == expected_links(host, iid)
    assert (st["runtimeStatus"], started_input(st), st["output"]) == (
        "Completed",
        "World",
        "Hello, World!",
    )


# Activity_Gets_HttpManagementPayload (L3062): an activity with a durableClient binding; the
# orchestrator passes its instance id (a Python activity has no IDurableActivityContext)
def test_activity_gets_http_management_payload(host: Host) -> None:
    iid = start(host, "ReturnHttpManagementPayload")
    st = wait_for(host, iid)
    assert st["runtimeStatus"] == "Completed" and st["output"]["id"] == iid
    assert {k: st["output"][k] for k in expected_links(host, iid)} == expected_links(host, iid)


# RestartOrchestator_IsSuccess (L4694)
@pytest.mark.parametrize("new_id", [True, False])
def test_restart_orchestrator(host: Host, new_id: bool) -> None:
    iid = start(host, "SayHelloInline", "RestartAsyncTest")
    wait_for(host, iid)
    payload = arun(host.client().restart(iid, restart_with_new_instance_id=new_id))
    restarted = payload["id"]  # the SDK returns the check-status payload
    assert (restarted != iid) is new_id
    st = wait_until(
        lambda: (s := status(host, restarted)) and s["runtimeStatus"] == "Completed" and s,
        message=f"{restarted} never completed",
    )
    assert started_input(st) == "RestartAsyncTest"


# RestartOrchestrator_ThrowsException (L4733): the ArgumentException's text reaches the API's
# 400 body; the Python SDK raises its own message for the 400
def test_restart_unknown_instance_raises(host: Host) -> None:
    missing = str(uuid.uuid4())
    reply = host.http("POST", f"/durabletask/instances/{missing}/restart")
    assert reply.status == 400
    assert reply.json()["ExceptionMessage"] == (
        f"An orchestrastion with the instanceId {missing} was not found."
    )
    with pytest.raises(Exception, match="unexpected status code 400"):
        arun(host.client().restart(missing))


# GetStatus_WithCondition (L4765), on one task hub (the Python client's query has no task hub
# condition): runtime status and created time filters
def test_get_status_with_condition(host: Host) -> None:
    ids = [start(host, "SayHelloWithActivity", v) for v in ("foo", "bar", "baz")]
    for iid in ids:
        wait_for(host, iid)
    now = datetime.now(UTC)
    statuses = [df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Completed]
    found = arun(
        host.client().get_status_by(now - timedelta(days=1), now + timedelta(days=1), statuses)
    )
    assert set(ids) <= {s.instance_id for s in found}
    later = arun(host.client().get_status_by(now + timedelta(hours=1), None, statuses))
    assert not set(ids) & {s.instance_id for s in later}


def large_blobs(host: Host, iid: str) -> int:
    service = BlobServiceClient.from_connection_string(host.azurite.connection_string)
    container = service.get_container_client(f"{host.hub.lower()}-largemessages")
    return sum(1 for _ in container.list_blobs(name_starts_with=f"{iid}/"))


# Purge_Single_Instance_History (L4436): a 128 KB payload leaves blobs; purge removes both
def test_purge_single_instance_history(host: Host) -> None:
    iid = str(uuid.uuid4())
    st = wait_for(host, start(host, "EchoWithActivity", "x" * 128 * 1024, iid))
    assert st["runtimeStatus"] == "Completed"
    assert len(history(host, iid)) > 0 and large_blobs(host, iid) > 0
    arun(host.client().purge_instance_history(iid))
    assert host.status(iid).status == 404
    assert large_blobs(host, iid) == 0


TERMINAL_STATUSES = [
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Failed,
]


# Purge_All_History_By_TimePeriod (L4535) without its autoFetch=false blob-URL check (a
# host.json setting)
def test_purge_all_history_by_time_period(host: Host) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    ids = [wait_for(host, start(host, "FanOutFanIn", 50))["instanceId"] for _ in range(3)]
    for iid in ids:
        st = status(host, iid, "?showHistory=true")
        assert (st["runtimeStatus"], st["output"]) == ("Completed", "Done")
        assert len(st["historyEvents"]) > 0
    big = wait_for(host, start(host, "EchoWithActivity", "y" * 128 * 1024))["instanceId"]
    assert large_blobs(host, big) > 0
    arun(host.client().purge_instance_history_by(since, datetime.now(UTC), TERMINAL_STATUSES))
    for iid in [*ids, big]:
        assert host.status(iid).status == 404
    assert large_blobs(host, big) == 0


# Purge_Partially_History_By_TimePeriod (L4621): only the first instance falls in the window
def test_purge_partially_history_by_time_period(host: Host) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    first = wait_for(host, start(host, "FanOutFanIn", 50))["instanceId"]
    until = datetime.now(UTC)
    later = [start(host, "FanOutFanIn", 50) for _ in range(2)]  # created after `until`
    for iid in later:
        assert wait_for(host, iid)["output"] == "Done"
    arun(host.client().purge_instance_history_by(since, until, TERMINAL_STATUSES))
    assert host.status(first).status == 404
    for iid in later:
        st = status(host, iid, "?showHistory=true")
        assert st["instanceId"] == iid and len(st["historyEvents"]) > 0


# ReplaySafeLogger_LogsOnlyOnce (L5790): Python's replay-safe pattern is `if not
# context.is_replaying`; the line reaches the host's log once although the code runs twice
def test_replay_safe_logging_logs_once(host: Host) -> None:
    iid = start(host, "ReplaySafeLogger_OneLogMessage", "World")
    assert wait_for(host, iid)["runtimeStatus"] == "Completed"
    assert host.proc.log_path is not None
    text = f"ReplaySafeLogger Test: About to say Hello ({iid})"
    assert host.proc.log_path.read_text(errors="replace").count(text) == 1


# CallActivity_Like_From_Azure_Portal (L5301): the host's admin API runs an activity by hand
def test_call_activity_like_from_azure_portal(host: Host, tmp_path: Path) -> None:
    out = tmp_path / "output"
    body = {"input": json.dumps({"Foo": "return_result", "path": str(out)})}
    assert host.post_json("/admin/functions/PortalActivity", body).status == 202
    wait_until(out.exists, message="PortalActivity never ran")
    assert out.read_text() == "return_result"
