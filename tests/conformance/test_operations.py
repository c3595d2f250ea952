"""Operations on an instance: raiseEvent, terminate, suspend, resume, restart, rewind, purge.
Paths: HttpApiHandler.cs and ContextImplementations/DurableClient.cs under
src/WebJobs.Extensions.DurableTask/; DTFx = DurableTask.AzureStorage v1.17.5."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from devhost.durabletask.azurestorage.names import escape_key
from tests.conformance.conftest import Host
from tests.sdk import arun

pytestmark = pytest.mark.e2e
JSON = {"Content-Type": "application/json"}
SOMETHING_WRONG = "Something went wrong while processing your request"


def waiting(host: Host, seconds: int = 300) -> str:
    """A Running Approval instance (waits for the event 'Approval' or a timer)."""
    iid = "op-" + uuid.uuid4().hex[:10]
    assert host.post_json(f"/durabletask/orchestrators/Approval/{iid}", seconds).status == 202
    host.wait(iid, {"Running"})
    return iid


def completed(host: Host) -> str:
    iid = "done-" + uuid.uuid4().hex[:10]
    assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["d"]).status == 202
    host.wait(iid)
    return iid


def post(host: Host, path: str) -> int:
    return host.http("POST", path).status


# HttpApiHandler.cs L1006-1018: the body is ConvertToJToken'd and raised unchanged, so a JSON
# string body arrives as that string ("7026" stays text; issue 11.5).
@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'"7026"', "7026"), (b'"true"', "true"), (b"7026", 7026), (b'{"a": [1]}', {"a": [1]})],
)
def test_raise_event_body_passes_through(host: Host, body: bytes, expected: object) -> None:
    iid = waiting(host)
    reply = host.http("POST", f"/durabletask/instances/{iid}/raiseEvent/Approval", body, JSON)
    assert reply.status == 202 and reply.body == b""
    assert host.wait(iid)["output"] == {"approved": expected}


# Same, through the SDK: raise_event double-encodes, the orchestrator gets the JSON text.
def test_sdk_raise_event_delivers_json_text(host: Host) -> None:
    iid = waiting(host)

    async def go() -> None:
        await host.client().raise_event(iid, "Approval", {"by": "sdk"})

    arun(go())
    assert host.wait(iid)["output"] == {"approved": json.dumps({"by": "sdk"})}


# HttpApiHandler.cs L1000-1004: only application/json -> else 400 {Message}.
def test_raise_event_needs_application_json(host: Host) -> None:
    iid = waiting(host)
    path = f"/durabletask/instances/{iid}/raiseEvent/Approval"
    reply = host.http("POST", path, b"1", {"Content-Type": "text/plain"})
    assert reply.status == 400
    assert reply.json() == {"Message": "Only application/json request content is supported"}
    post(host, f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L1008-1016: a body that is not JSON (or empty) -> 400 "Invalid JSON content".
@pytest.mark.parametrize("body", [b"", b"{oops"])
def test_raise_event_invalid_json_is_400(host: Host, body: bytes) -> None:
    iid = waiting(host)
    reply = host.http("POST", f"/durabletask/instances/{iid}/raiseEvent/Approval", body, JSON)
    assert reply.status == 400
    assert reply.json()["Message"] == "Invalid JSON content"
    post(host, f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L985-998: unknown -> 404, finished -> 410 (checked before the content type).
def test_raise_event_unknown_and_finished(host: Host) -> None:
    path = "/durabletask/instances/{}/raiseEvent/Approval"
    assert host.http("POST", path.format("nope"), b"1", JSON).status == 404
    assert host.http("POST", path.format(completed(host)), b"1", {}).status == 410


# HttpApiHandler.cs L809-831 + DurableClient.cs L403-422 (IsOrchestrationSuspendable,
# L906-911): suspending a Suspended instance throws InvalidOperationException -> 500.
def test_suspend_of_suspended_is_500(host: Host) -> None:
    iid = waiting(host)
    assert post(host, f"/durabletask/instances/{iid}/suspend?reason=r") == 202
    host.wait(iid, {"Suspended"})
    reply = host.http("POST", f"/durabletask/instances/{iid}/suspend")
    assert reply.status == 500
    body = reply.json()
    assert body["Message"] == SOMETHING_WRONG
    assert body["ExceptionType"] == "System.InvalidOperationException"
    assert body["ExceptionMessage"] == (
        f"Cannot suspend the orchestration instance {iid} because instance is in the "
        "Suspended state."
    )
    assert post(host, f"/durabletask/instances/{iid}/resume") == 202
    host.wait(iid, {"Running"})
    post(host, f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L833-855 + DurableClient.cs L424-443: resuming a Running instance throws
# InvalidOperationException -> 500; the SDK raises on the unexpected status.
def test_resume_of_running_is_500(host: Host) -> None:
    iid = waiting(host)
    reply = host.http("POST", f"/durabletask/instances/{iid}/resume")
    assert reply.status == 500
    assert reply.json()["ExceptionMessage"] == (
        f"Cannot resume the orchestration instance {iid} because instance is in the Running state."
    )

    async def go() -> None:
        await host.client().resume(iid, "again")

    with pytest.raises(Exception, match="unexpected status code 500"):
        arun(go())
    post(host, f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L785-807 (+L809-855): unknown -> 404, finished -> 410, else 202; the reason
# is the terminated instance's output.
def test_terminate_suspend_resume_statuses(host: Host) -> None:
    done = completed(host)
    for op in ("terminate", "suspend", "resume"):
        assert post(host, f"/durabletask/instances/nope/{op}") == 404
        assert post(host, f"/durabletask/instances/{done}/{op}") == 410
    iid = waiting(host)
    assert post(host, f"/durabletask/instances/{iid}/terminate?reason=enough") == 202
    assert host.wait(iid)["output"] == "enough"


# HttpApiHandler.cs L901-947 + DurableClient.cs L1142-1153: restartWithNewInstanceId defaults
# to true; the reply is the 202 check-status response for the new id; same name and input.
def test_restart_defaults_to_a_new_instance_id(host: Host) -> None:
    done = completed(host)
    reply = host.http("POST", f"/durabletask/instances/{done}/restart")
    assert reply.status == 202
    body = reply.json()
    assert body["id"] != done and "restartPostUri" in body
    assert reply.headers["Location"] == body["statusQueryGetUri"]
    assert reply.headers["Retry-After"] == "10"
    again = host.wait(body["id"])
    assert again["name"] == "Chain" and again["input"] == ["d"] and again["output"] == ["Hello d!"]


# Same, restartWithNewInstanceId=false reuses the id (what the SDK's restart(id, False) sends).
def test_restart_with_same_id(host: Host) -> None:
    done = completed(host)

    async def go() -> object:
        return await host.client().restart(done, restart_with_new_instance_id=False)

    payload = arun(go())  # the SDK returns the reply body (the check-status payload)
    assert isinstance(payload, dict) and payload["id"] == done
    assert host.wait(done)["output"] == ["Hello d!"]


# HttpApiHandler.cs L939-942 + DurableClient.cs L1146-1149: unknown id -> ArgumentException ->
# 400 "InstanceId does not match a valid orchestration instance.".
def test_restart_unknown_is_400(host: Host) -> None:
    reply = host.http("POST", "/durabletask/instances/nope/restart")
    assert reply.status == 400
    body = reply.json()
    assert body["Message"] == "InstanceId does not match a valid orchestration instance."
    assert body["ExceptionMessage"] == "An orchestrastion with the instanceId nope was not found."


# HttpApiHandler.cs L949-976 + DurableClient.cs L446-457: rewind of unknown -> 404, of a
# Completed one -> 410, of a Running one -> InvalidOperationException -> 500.
def test_rewind_statuses(host: Host) -> None:
    assert post(host, "/durabletask/instances/nope/rewind") == 404
    assert post(host, f"/durabletask/instances/{completed(host)}/rewind") == 410
    iid = waiting(host)
    reply = host.http("POST", f"/durabletask/instances/{iid}/rewind")
    assert reply.status == 500
    assert reply.json()["ExceptionMessage"] == (
        "The rewind operation is only supported on failed orchestration instances."
    )
    post(host, f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L554-567 + DTFx AzureTableTrackingStore.cs L801-835: any existing
# instance is purged, Running included -> 200 {"instancesDeleted": 1}; unknown -> 404.
def test_purge_of_a_running_instance(host: Host) -> None:
    iid = waiting(host)
    reply = host.http("DELETE", f"/durabletask/instances/{iid}")
    assert reply.status == 200
    assert reply.json() == {"instancesDeleted": 1}
    assert host.status(iid).status == 404
    assert host.http("DELETE", "/durabletask/instances/nope").status == 404

    async def go() -> int:
        return int((await host.client().purge_instance_history("nope")).instances_deleted)

    assert arun(go()) == 0


# DTFx AzureTableTrackingStore.cs L750-798 (DeleteAllDataForOrchestrationInstance ->
# MessageManager.DeleteLargeMessageBlobs): purge removes the instance's large-message blobs.
def test_purge_deletes_large_message_blobs(host: Host) -> None:
    iid = "bigp-" + uuid.uuid4().hex[:8]
    assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["y" * 40_000]).status == 202
    host.wait(iid)
    container = BlobServiceClient.from_connection_string(
        host.azurite.connection_string
    ).get_container_client(f"{host.hub.lower()}-largemessages")
    prefix = escape_key(iid) + "/"
    assert list(container.list_blobs(name_starts_with=prefix))
    assert host.http("DELETE", f"/durabletask/instances/{iid}").status == 200
    assert not list(container.list_blobs(name_starts_with=prefix))
    tables = TableServiceClient.from_connection_string(host.azurite.connection_string)
    history = tables.get_table_client(f"{host.hub}History")
    assert not list(history.query_entities(f"PartitionKey eq '{escape_key(iid)}'"))


# HttpApiHandler.cs L569-579: a filter purge without a parseable createdTimeFrom is 400 with a
# JSON string body, and deletes nothing (issue 12.3).
@pytest.mark.parametrize("query", ["", "?createdTimeFrom=notadate", "?runtimeStatus=Completed"])
def test_purge_by_filter_requires_created_time_from(host: Host, query: str) -> None:
    done = completed(host)
    reply = host.http("DELETE", f"/durabletask/instances/{query}")
    assert reply.status == 400
    assert reply.json() == "Please provide value for 'createdTimeFrom' parameter."
    assert host.status(done).status == 200


# HttpApiHandler.cs L569-596 + DTFx AzureTableTrackingStore.cs L837-866: purge by created time
# (and terminal statuses only; others in runtimeStatus are dropped), 404 when nothing matched.
def test_purge_by_filter(host: Host) -> None:
    running = waiting(host)
    done = completed(host)
    created = host.status(done).json()["createdTime"]
    query = f"?createdTimeFrom={created}&runtimeStatus=Completed,Running"
    reply = host.http("DELETE", f"/durabletask/instances/{query}")
    assert reply.status == 200
    assert reply.json()["instancesDeleted"] >= 1
    assert host.status(done).status == 404
    assert host.status(running).status == 202  # only the terminal statuses were purged
    future = "?createdTimeFrom=2999-01-01T00:00:00Z"
    assert host.http("DELETE", f"/durabletask/instances/{future}").status == 404
    post(host, f"/durabletask/instances/{running}/terminate")


# The SDK's purge_instance_history_by sends createdTimeFrom (and runtimeStatus) to the same
# HandleDeleteHistoryWithFiltersRequestAsync (L569-596); 404 reads as 0 deleted.
def test_sdk_purge_by_filter(host: Host) -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    import azure.durable_functions as df  # noqa: PLC0415

    done = completed(host)
    since = datetime.now(UTC) - timedelta(minutes=1)

    async def go() -> tuple[int, int]:
        c = host.client()
        status = [df.OrchestrationRuntimeStatus.Completed]
        first = await c.purge_instance_history_by(since, None, status)
        second = await c.purge_instance_history_by(since, None, status)
        return first.instances_deleted, second.instances_deleted

    first, second = arun(go())
    assert first >= 1 and second == 0
    assert host.status(done).status == 404
