"""Starting orchestrations: POST orchestrators/{functionName}/{instanceId?} and the SDK's start_new.
Paths: HttpApiHandler.cs and DurableClient.cs under src/WebJobs.Extensions.DurableTask/."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.conformance.conftest import Host
from tests.sdk import arun

pytestmark = pytest.mark.e2e
JSON = {"Content-Type": "application/json"}
ARGS_400 = "One or more of the arguments submitted is incorrect"


def new_id() -> str:
    return "s-" + uuid.uuid4().hex[:12]


# HttpApiHandler.cs L868-875 (HandleStartOrchestratorRequestAsync reads the body with
# JsonConvert.DeserializeObject and passes it as the input) + DurableClient.cs L1089
# (ConvertOrchestrationStateToStatus: Input = ParseToJToken(stored)): the SDK double-encodes, so
# an SDK-started instance's status input is the JSON *text*, a string.
def test_sdk_start_input_is_json_text(host: Host) -> None:
    async def go() -> str:
        return str(await host.client().start_new("Chain", None, ["sdk"]))

    iid = arun(go())
    body = host.wait(iid)
    assert body["input"] == '["sdk"]'
    assert body["output"] == ["Hello sdk!"]  # the orchestrator itself got the list

    async def status() -> object:
        return (await host.client().get_status(iid, show_input=True)).input_

    assert arun(status()) == '["sdk"]'

    async def default_status() -> object:  # show_input=False is not sent (falsy): default true
        return (await host.client().get_status(iid)).input_

    assert arun(default_status()) == '["sdk"]'
    # DurableClient.cs L990-998: ExecutionStarted keeps the stored input, a JSON string of it.
    history = host.status(iid, "?showHistory=true").json()["historyEvents"]
    assert history[0]["Input"] == json.dumps('["sdk"]')


# HttpApiHandler.cs L868-875: a raw JSON body is the input itself (shown parsed, L1089).
def test_raw_json_body_is_the_input(host: Host) -> None:
    iid = new_id()
    assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["raw"]).status == 202
    body = host.wait(iid)
    assert body["input"] == ["raw"]
    assert body["output"] == ["Hello raw!"]


# HttpApiHandler.cs L869-873: an empty body (Content-Length 0) starts with a null input.
def test_empty_body_is_a_null_input(host: Host) -> None:
    iid = new_id()
    assert host.http("POST", f"/durabletask/orchestrators/Chain/{iid}", b"").status == 202
    body = host.wait(iid)
    assert body["input"] is None
    assert body["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


# HttpApiHandler.cs L895-898: JsonReaderException -> 400 "Invalid JSON content"
# (HttpRequestMessageExtensions.cs L46-62: Message, ExceptionMessage, ExceptionType, StackTrace).
def test_invalid_json_body_is_400(host: Host) -> None:
    reply = host.http("POST", "/durabletask/orchestrators/Chain", b"{not json", JSON)
    assert reply.status == 400
    body = reply.json()
    assert body["Message"] == "Invalid JSON content"
    assert body["ExceptionType"] == "Newtonsoft.Json.JsonReaderException"
    assert set(body) == {"Message", "ExceptionMessage", "ExceptionType", "StackTrace"}


# LocalHttpListener / Kestrel's ReadAsStringAsync: undecodable bytes become U+FFFD, no error.
def test_non_utf8_body_is_read_with_replacement(host: Host) -> None:
    iid = new_id()
    reply = host.http("POST", f"/durabletask/orchestrators/Chain/{iid}", b'["\xff"]', JSON)
    assert reply.status == 202
    assert host.wait(iid)["input"] == ["\ufffd"]


# DurableTaskExtension.cs L1325-1346 (ThrowIfFunctionDoesNotExist) looks names up as
# FunctionName, which compares OrdinalIgnoreCase (FunctionName.cs L60-86).
def test_function_name_is_case_insensitive(host: Host) -> None:
    iid = new_id()
    reply = host.post_json(f"/durabletask/orchestrators/cHaIn/{iid}", ["case"])
    assert reply.status == 202
    assert host.wait(iid)["output"] == ["Hello case!"]


# DurableTaskExtension.cs L1368-1380 (GetInvalidOrchestratorFunctionMessage) thrown as
# ArgumentException -> HttpApiHandler.cs L442-445: 400 with the SDK-read ExceptionMessage.
def test_unknown_orchestrator_is_400_with_known_names(host: Host) -> None:
    reply = host.post_json("/durabletask/orchestrators/Nope", None)
    assert reply.status == 400
    body = reply.json()
    assert body["Message"] == ARGS_400
    assert body["ExceptionMessage"].startswith(
        "The function 'Nope' doesn't exist, is disabled, or is not an orchestrator function. "
        "Additional info: The following are the known orchestrator functions: 'Approval', "
    )

    async def go() -> None:
        await host.client().start_new("Nope")

    with pytest.raises(Exception, match="The function 'Nope' doesn't exist"):
        arun(go())


# DurableClient.cs L185-201 (StartNewAsync id checks; L225-228 IsInvalidCharacter) thrown as
# ArgumentException -> HttpApiHandler.cs L442-445: 400.
@pytest.mark.parametrize(
    ("instance_id", "message"),
    [
        ("@at", "instanceId (Parameter 'Orchestration instance ids must not start with @.')"),
        (
            "a%23b",
            "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, "
            "or control characters.')",
        ),
        ("a%5Cb", None),
        ("a%3Fb", None),
        ("a%0Ab", None),
        ("a%00b", None),
        ("x" * 257, "Instance ID lengths must not exceed 256 characters."),
        ("y" * 600, "Instance ID lengths must not exceed 256 characters."),
    ],
)
def test_invalid_instance_ids_are_400(host: Host, instance_id: str, message: str | None) -> None:
    reply = host.post_json(f"/durabletask/orchestrators/Chain/{instance_id}", None)
    assert reply.status == 400, reply.body
    body = reply.json()
    assert body["Message"] == ARGS_400
    assert body["ExceptionType"] == "System.ArgumentException"
    if message:
        assert body["ExceptionMessage"] == message
    else:
        assert "must not contain" in body["ExceptionMessage"]


# DurableClient.cs L198 (MaxInstanceIdLength = 256): exactly 256 is accepted.
def test_instance_id_of_256_is_accepted(host: Host) -> None:
    iid = "z" * 250 + uuid.uuid4().hex[:6]
    assert host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["256"]).status == 202
    assert host.wait(iid)["runtimeStatus"] == "Completed"


# DTFx AzureStorage 1.17.5 AzureStorageOrchestrationService.cs L1689-1695 throws
# OrchestrationAlreadyExistsException; it is no ArgumentException, so HttpApiHandler.cs
# L446-449's catch-all answers 500 "Something went wrong while processing your request".
def test_duplicate_start_of_a_running_id_is_500(host: Host) -> None:
    iid = new_id()
    assert host.post_json(f"/durabletask/orchestrators/Approval/{iid}", 300).status == 202
    reply = host.post_json(f"/durabletask/orchestrators/Approval/{iid}", 300)
    assert reply.status == 500
    body = reply.json()
    assert body["Message"] == "Something went wrong while processing your request"
    assert body["ExceptionType"] == (
        "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
    )
    assert re.match(
        r"An Orchestration instance with the status \w+ already exists\.", body["ExceptionMessage"]
    )

    async def go() -> None:
        await host.client().start_new("Approval", iid, 300)

    with pytest.raises(Exception, match="already exists"):
        arun(go())
    host.http("POST", f"/durabletask/instances/{iid}/terminate?reason=done")


# HttpApiHandler.cs L1164-1209 (GetClientResponseLinks) + L1211-1240
# (CreateCheckStatusResponseMessage): 202, the eight fields incl. restartPostUri, taskHub and
# connection query parameters, Location = statusQueryGetUri, Retry-After: 10.
def test_check_status_response(host: Host) -> None:
    iid = new_id()
    reply = host.post_json(f"/runtime/webhooks/durabletask/orchestrators/Chain/{iid}", ["c"])
    assert reply.status == 202
    body = reply.json()
    base = f"{host.base_url}/runtime/webhooks/durabletask/instances/{iid}"
    query = f"taskHub={host.hub}&connection=Storage"
    assert body == {
        "id": iid,
        "statusQueryGetUri": f"{base}?{query}",
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{base}?{query}",
        "restartPostUri": f"{base}/restart?{query}",
        "suspendPostUri": f"{base}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{base}/resume?reason={{text}}&{query}",
    }
    assert reply.headers["Location"] == body["statusQueryGetUri"]
    assert reply.headers["Retry-After"] == "10"
    host.wait(iid)


# HttpApiHandler.cs L1178 (WebUtility.UrlEncode of the instance id in management URLs: only
# letters, digits and -_.!*() stay as they are).
def test_management_urls_encode_the_instance_id(host: Host) -> None:
    iid = "a+b~c!(d)*" + uuid.uuid4().hex[:6]
    reply = host.post_json(f"/durabletask/orchestrators/Chain/{iid}", ["e"])
    assert reply.status == 202
    assert reply.json()["id"] == iid
    assert f"/instances/a%2Bb%7Ec!(d)*{iid[-6:]}?" in reply.json()["statusQueryGetUri"]
    host.wait(iid)


# HttpApiHandler.cs L877-889 + L196-280 (WaitForCompletionOrCreateCheckStatusResponseAsync):
# done within `timeout` -> 200 with the output itself.
def test_start_and_wait_returns_the_output(host: Host) -> None:
    reply = host.post_json("/durabletask/orchestrators/Chain?timeout=20&pollingInterval=0.2", ["w"])
    assert reply.status == 200
    assert reply.json() == ["Hello w!"]


# HttpApiHandler.cs L263-266: a start-and-wait that ends Failed answers with the status payload
# (200: returnInternalServerErrorOnFailure is false there whatever the query says).
def test_start_and_wait_failed_returns_the_status(host: Host) -> None:
    body = {"counter": f"/nonexistent/{uuid.uuid4().hex}", "succeed_on": 99}
    path = "/durabletask/orchestrators/Retry?timeout=30&pollingInterval=0.2"
    reply = host.post_json(path + "&returnInternalServerErrorOnFailure=true", body)
    assert reply.status == 200
    assert reply.json()["runtimeStatus"] == "Failed"
    assert reply.json()["input"] == body


# HttpApiHandler.cs L268-278: not done within `timeout` -> the 202 check-status response.
def test_start_and_wait_times_out_to_check_status(host: Host) -> None:
    reply = host.post_json("/durabletask/orchestrators/Approval?timeout=1&pollingInterval=0.5", 300)
    assert reply.status == 202
    assert reply.headers["Retry-After"] == "10"
    iid = reply.json()["id"]
    host.http("POST", f"/durabletask/instances/{iid}/terminate")


# HttpApiHandler.cs L204-207: pollingInterval > timeout is an ArgumentException -> 400.
def test_start_and_wait_interval_above_timeout_is_400(host: Host) -> None:
    reply = host.post_json("/durabletask/orchestrators/Chain?timeout=1&pollingInterval=2", ["x"])
    assert reply.status == 400
    message = reply.json()["ExceptionMessage"]
    assert message == "Total timeout 1 should be bigger than retry timeout 2"


# HttpApiHandler.cs L765-775 (TryGetTimeSpanQueryParameterValue): an unparseable timeout means
# no waiting at all (202 at once).
def test_start_with_unparseable_timeout_does_not_wait(host: Host) -> None:
    reply = host.post_json("/durabletask/orchestrators/Chain?timeout=abc&pollingInterval=1", ["n"])
    assert reply.status == 202
    host.wait(reply.json()["id"])


# HttpApiHandler.cs L1172-1176: URLs are built from the host's own address; devhost never
# echoes the request's Host header (issue 12.7). A name outside the guard's allow-list is
# refused before it gets here (tests/security/test_listeners.py); localhost is allowed.
def test_host_header_is_not_reflected(host: Host) -> None:
    reply = host.http(
        "POST",
        "/durabletask/orchestrators/Chain",
        json.dumps(["h"]).encode(),
        {**JSON, "Host": "localhost:666"},
    )
    assert reply.status == 202
    assert reply.headers["Location"].startswith(host.base_url + "/")
    assert "localhost:666" not in reply.body.decode()
    host.wait(reply.json()["id"])
