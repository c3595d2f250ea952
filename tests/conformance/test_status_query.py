"""Reading instances: GET instances/{id} and GET instances (query), raw and through the SDK.
Paths: HttpApiHandler.cs, DurableClient.cs, StatusResponsePayload.cs under
src/WebJobs.Extensions.DurableTask/; DTFx = DurableTask.AzureStorage v1.17.5."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from devhost.durabletask.azurestorage.names import escape_key
from tests.conformance.conftest import Host
from tests.sdk import arun

pytestmark = pytest.mark.e2e
WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def done(host: Host) -> dict[str, str]:
    """A few finished instances under one prefix: Completed x3 (q-c*), Failed x1 (q-f)."""
    ids = {}
    for i in range(3):
        ids[f"c{i}"] = iid = f"q-c{i}-" + uuid.uuid4().hex[:6]
        assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", [f"q{i}"]).status == 202
    ids["f"] = iid = "q-f-" + uuid.uuid4().hex[:6]
    counter = Path("/nonexistent") / uuid.uuid4().hex  # the activity fails to count: Failed
    body = {"counter": str(counter), "succeed_on": 99}
    assert host.post_json(f"/durabletask/orchestrators/Retry/{iid}", body).status == 202
    for iid in ids.values():
        host.wait(iid, timeout=90)
    return ids


def listing(host: Host, query: str, headers: dict[str, str] | None = None) -> list[Any]:
    reply = host.http("GET", f"/durabletask/instances/{query}", headers=headers)
    assert reply.status == 200, reply.body
    rows: list[Any] = reply.json()
    return rows


# HttpApiHandler.cs L644-653 + L685-689: a running instance is 202 with Location (the request
# URI, here the RPC listener's) and Retry-After: 5.
def test_running_status_is_202_with_retry_after_5(host: Host) -> None:
    iid = "run-" + uuid.uuid4().hex[:8]
    host.post_json(f"/durabletask/orchestrators/Approval/{iid}", 300)
    host.wait(iid, {"Running"})
    reply = host.status(iid, "?showHistory=false")
    assert reply.status == 202
    assert reply.headers["Retry-After"] == "5"
    assert reply.headers["Location"] == (
        f"{host.rpc_url}/durabletask/instances/{iid}?showHistory=false"
    )
    host.http("POST", f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L661-667: a finished instance is 200 without Location or Retry-After.
def test_completed_status_is_200_without_location(host: Host, done: dict[str, str]) -> None:
    reply = host.status(done["c0"])
    assert reply.status == 200
    assert "Location" not in reply.headers and "Retry-After" not in reply.headers


# HttpApiHandler.cs L655-659: Failed is 200, or 500 with returnInternalServerErrorOnFailure=true.
def test_failed_status_500_only_when_asked(host: Host, done: dict[str, str]) -> None:
    assert host.status(done["f"]).json()["runtimeStatus"] == "Failed"
    assert host.status(done["f"]).status == 200
    assert host.status(done["f"], "?returnInternalServerErrorOnFailure=true").status == 500


# HttpApiHandler.cs L636-639: unknown id -> 404 with no body; DTFx reads by query, so an id no
# table key can hold (control characters, very long) is simply not found.
@pytest.mark.parametrize("instance_id", ["nope", "a%00b", "a%0Ab", "x" * 600])
def test_unknown_instance_is_404(host: Host, instance_id: str) -> None:
    reply = host.status(instance_id)
    assert reply.status == 404
    assert reply.body == b""


# HttpApiHandler.cs L703-717 (ConvertFrom): exactly these fields, times as ToString("s") + "Z".
def test_status_payload_shape(host: Host, done: dict[str, str]) -> None:
    body = host.status(done["c1"]).json()
    assert set(body) == {
        "name",
        "instanceId",
        "runtimeStatus",
        "input",
        "customStatus",
        "output",
        "createdTime",
        "lastUpdatedTime",
    }
    assert WHOLE_SECONDS.match(body["createdTime"]) and WHOLE_SECONDS.match(body["lastUpdatedTime"])
    assert body["input"] == ["q1"] and body["customStatus"] == {"done": 1}


# HttpApiHandler.cs L617-620: showInput defaults to true; L635 passes it to GetStatusAsync.
def test_show_input_false_hides_the_input(host: Host, done: dict[str, str]) -> None:
    assert host.status(done["c0"]).json()["input"] == ["q0"]
    assert host.status(done["c0"], "?showInput=false").json()["input"] is None
    assert host.status(done["c0"], "?showInput=nonsense").json()["input"] == ["q0"]


# StatusResponsePayload.cs L63-67 (historyEvents, EmitDefaultValue = false) + DurableClient.cs
# L938-1042 (history conversion): only `historyEvents`; OrchestratorStarted/Completed dropped;
# TaskScheduled folded into TaskCompleted as FunctionName/ScheduledTime/Input; EventId,
# IsPlayed, TaskScheduledId removed; ExecutionStarted's Name as FunctionName.
def test_history_events_shape(host: Host, done: dict[str, str]) -> None:
    body = host.status(done["c2"], "?showHistory=true").json()
    assert "history" not in body
    events = body["historyEvents"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    started, completed, finished = events
    assert started["FunctionName"] == "Chain" and "Name" not in started
    assert completed["FunctionName"] == "Hello"
    # OutOfProcOrchestrationShim.cs L116 + L313-314: the SDK's action input (JSON text) is an
    # `object` string that DTFx serializes again, so history inputs are JSON strings of JSON.
    assert completed["Input"] == json.dumps('"q2"')
    assert started["Input"] == '["q2"]'  # a raw-JSON start body is kept as sent
    assert {"ScheduledTime", "Timestamp"} <= set(completed)
    assert "Result" not in completed and "Result" not in finished  # no showHistoryOutput
    assert finished["OrchestrationStatus"] == "Completed"
    for e in events:
        assert not {"EventId", "IsPlayed", "TaskScheduledId"} & set(e)
    assert "historyEvents" not in host.status(done["c2"]).json()


# DurableClient.cs L968-973 + L1005-1010 + L1120-1128: results only with showHistoryOutput,
# parsed (ParseToJToken); L1021-1024: showInput=false drops Input from every event.
def test_history_output_and_input_flags(host: Host, done: dict[str, str]) -> None:
    query = "?showHistory=true&showHistoryOutput=true&showInput=false"
    events = host.status(done["c2"], query).json()["historyEvents"]
    assert events[1]["Result"] == "Hello q2!"
    assert events[2]["Result"] == ["Hello q2!"]
    assert all("Input" not in e for e in events)


# The SDK reads `historyEvents` as an attribute; its `history` (from a `history` key) is None.
def test_sdk_status_history(host: Host, done: dict[str, str]) -> None:
    async def go() -> object:
        return await host.client().get_status(done["c0"], show_history=True)

    status = arun(go())
    assert status.history is None  # type: ignore[attr-defined]
    events = status.historyEvents  # type: ignore[attr-defined]
    assert events[0]["EventType"] == "ExecutionStarted"


# HttpApiHandler.cs L480-483 + OrchestrationStatusQueryCondition.cs L79 (ShowInput = true):
# the instance query shows inputs unless showInput=false.
def test_query_shows_input_by_default(host: Host, done: dict[str, str]) -> None:
    rows = {r["instanceId"]: r for r in listing(host, "?instanceIdPrefix=q-c")}
    assert set(rows) == {done["c0"], done["c1"], done["c2"]}
    assert rows[done["c0"]]["input"] == ["q0"]
    hidden = listing(host, "?instanceIdPrefix=q-c&showInput=false")
    assert {r["input"] for r in hidden} == {None}


# DTFx OrchestrationInstanceStatusQueryCondition.cs L81-112 (ToTableQuery): with no filter at
# all the query selects every column, so showInput=false does not hide inputs.
def test_query_without_filter_ignores_show_input_false(host: Host, done: dict[str, str]) -> None:
    rows = {r["instanceId"]: r for r in listing(host, "?showInput=false")}
    assert rows[done["c0"]]["input"] == ["q0"]


# HttpApiHandler.cs L485-488 + L759-763 (int.TryParse) and L465-473 + L747-751
# (DateTime.TryParse): unparseable values are ignored, the defaults used (issue 12.7).
def test_query_ignores_unparseable_parameters(host: Host, done: dict[str, str]) -> None:
    rows = listing(host, "?top=abc&createdTimeFrom=notadate&createdTimeTo=x&showInput=maybe")
    assert set(done.values()) <= {r["instanceId"] for r in rows}


# DTFx OrchestrationInstanceStatusQueryCondition.cs L119-133: createdTimeFrom/To filter.
def test_query_created_time_filter(host: Host, done: dict[str, str]) -> None:
    assert listing(host, "?createdTimeFrom=2999-01-01T00:00:00Z") == []
    rows = listing(host, "?createdTimeFrom=2000-01-01&createdTimeTo=2999-01-01T00:00:00Z")
    assert set(done.values()) <= {r["instanceId"] for r in rows}


# HttpApiHandler.cs L719-739 (TryGetIEnumerableQueryParameterValue: Enum.TryParse each
# comma-separated value, numbers included, unknown names skipped).
def test_query_runtime_status_parsing(host: Host, done: dict[str, str]) -> None:
    failed = listing(host, "?instanceIdPrefix=q-&runtimeStatus=Failed,Bogus")
    assert [r["instanceId"] for r in failed] == [done["f"]]
    numeric = listing(host, "?instanceIdPrefix=q-&runtimeStatus=3")  # 3 = Failed
    assert [r["instanceId"] for r in numeric] == [done["f"]]
    both = listing(host, "?instanceIdPrefix=q-&runtimeStatus=Completed&runtimeStatus=Failed")
    assert len(both) == 4


# HttpApiHandler.cs L490-509: pages of `top`, the token in x-ms-continuation-token (the header
# is always sent; empty after the last page).
def test_query_paging(host: Host, done: dict[str, str]) -> None:
    seen: list[str] = []
    token = ""
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        path = "/durabletask/instances/?top=2&instanceIdPrefix=q-"
        reply = host.http("GET", path, headers=headers)
        assert reply.status == 200 and len(reply.json()) <= 2
        assert "x-ms-continuation-token" in {k.lower() for k in reply.headers}
        seen += [r["instanceId"] for r in reply.json()]
        token = reply.headers.get("x-ms-continuation-token", "")
        if not token:
            break
    assert sorted(seen) == sorted(done.values())


# DTFx Storage/Table.cs L250-253 (Convert.FromBase64String on the token: FormatException) ->
# HttpApiHandler.cs L446-449 catch-all 500 (issue 12.7: no devhost traceback).
def test_query_bad_continuation_token_is_500(host: Host) -> None:
    reply = host.http("GET", "/durabletask/instances/", headers={"x-ms-continuation-token": "!!"})
    assert reply.status == 500
    body = reply.json()
    assert body["Message"] == "Something went wrong while processing your request"
    assert body["ExceptionType"] == "System.FormatException"
    assert host.status("nope").status == 404  # still serving


# DTFx Tracking/AzureTableTrackingStore.cs L670-672 (TableQuery.Take: a count <= 0 is an
# ArgumentException) -> HttpApiHandler.cs L442-445: 400.
def test_query_top_zero_is_400(host: Host) -> None:
    assert host.http("GET", "/durabletask/instances/?top=0").status == 400


# The SDK's get_status_all / get_status_by go through the same query.
def test_sdk_query(host: Host, done: dict[str, str]) -> None:
    import azure.durable_functions as df  # noqa: PLC0415

    async def go() -> tuple[set[str], set[str]]:
        c = host.client()
        everything = {s.instance_id for s in await c.get_status_all()}
        failed = await c.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Failed])
        return everything, {s.instance_id for s in failed}

    everything, failed = arun(go())
    assert set(done.values()) <= everything
    assert done["f"] in failed and done["c0"] not in failed


# DTFx OrchestrationInstanceStatusQueryCondition.cs L89-101 (Select without Input when
# FetchInput is false) and AzureTableTrackingStore.cs FetchInstanceStatusInternalAsync: an
# input that is not selected is never downloaded from {hub}-largemessages (issue 12.2).
def test_large_input_not_downloaded_without_show_input(host: Host) -> None:
    iid = "big-" + uuid.uuid4().hex[:8]
    assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["x" * 40_000]).status == 202
    host.wait(iid)
    tables = TableServiceClient.from_connection_string(host.azurite.connection_string)
    row = tables.get_table_client(f"{host.hub}Instances").get_entity(escape_key(iid), "")
    blob_name = row["InputBlobName"]
    assert blob_name and not row["Input"]
    container = BlobServiceClient.from_connection_string(
        host.azurite.connection_string
    ).get_container_client(f"{host.hub.lower()}-largemessages")
    container.delete_blob(blob_name)  # a download would now fail
    assert host.status(iid, "?showInput=false").status == 200
    rows = listing(host, f"?instanceIdPrefix={iid}&showInput=false")
    assert [r["instanceId"] for r in rows] == [iid] and rows[0]["input"] is None
