"""The extension's end-to-end scenarios, ported: failures, retries, and the calls the
extension's context API refuses. Each test names its scenario in test/Common/
DurableTaskEndToEndTests.cs (Azure/azure-functions-durable-extension a7c6d694).

A Python orchestrator sees a failed task as the SDK raises it, Exception(f"{Reason} \\n
{Details}") (azure/durable_functions/models/TaskOrchestrationExecutor.py set_task_value), and
fails with "Orchestrator function '{name}' failed: {str(exception)}"
(OutOfProcOrchestrationShim.cs L85-91): the .NET tests' in-process texts ("The activity
function 'X' failed: \\"...\\"") become the out-of-proc ones below. Calls the context API
refuses are swallowed by the shim (L199-219): where the .NET test expects Failed, a Python
orchestrator hangs Running in Azure (azure-functions-durable-python issue 516), and devhost
says why in one line."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conformance.conftest import Host
from tests.conformance.e2e import APP, history, start, status, wait_for
from tests.sdk import arun
from tests.waiting import wait_until

__all__ = ["APP"]
pytestmark = pytest.mark.e2e
BOOM = "Kah-BOOOOM!!!"
ISSUE = "azure-functions-durable-python/issues/516"


def failed(host: Host, name: str, value: object = None) -> str:
    st = wait_for(host, start(host, name, value))
    assert st["runtimeStatus"] == "Failed", st
    output: str = st["output"]
    return output


# HandledActivityException (L1789)
def test_handled_activity_exception(host: Host) -> None:
    st = wait_for(host, start(host, "TryCatchLoop", 5))
    assert (st["runtimeStatus"], st["output"]) == ("Completed", 5)


# HandledSubOrchestratorException (L1815): the parent sees the child's failure text
def test_handled_sub_orchestrator_exception(host: Host) -> None:
    message = f"Failure ID: {uuid.uuid4()}"
    assert message in failed(host, "SubOrchestrationThrow", message)


# UnhandledOrchestrationException (L1845)
def test_unhandled_orchestration_exception(host: Host) -> None:
    output = failed(host, "ThrowOrchestrator", None)
    assert output.startswith(
        "Orchestrator function 'ThrowOrchestrator' failed: Value cannot be null."
    )


# UnhandledOrchestrationExceptionWithRetry (L2139): three attempts of the child, then the
# parent fails with the child's reason (once) and details; the custom status names the child
def test_unhandled_orchestration_exception_with_retry(host: Host) -> None:
    iid = start(host, "OrchestratorThrowWithRetry", None)
    st = wait_for(host, iid)
    assert st["runtimeStatus"] == "Failed"
    assert st["output"].startswith(
        "Orchestrator function 'OrchestratorThrowWithRetry' failed: Orchestrator function "
        "'ThrowOrchestrator' failed: Value cannot be null."
    )
    assert st["output"].count("Orchestrator function 'ThrowOrchestrator' failed:") == 1
    assert "message" in st["output"]
    child = st["customStatus"]
    assert child and status(host, child)["runtimeStatus"] == "Failed"
    created = [e for e in history(host, iid) if e["EventType"] == "SubOrchestrationInstanceFailed"]
    assert len(created) == 3  # the attempts of the retry policy


# OrchestrationWithRetry_NullRetryOptions (L2189) / ActivityWithRetry_NullRetryOptions (L2378):
# .NET throws ArgumentNullException("retryOptions"); the Python SDK fails building the action
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OrchestratorWithRetry_NullRetryOptions", None),
        ("ActivityWithRetry_NullRetryOptions", BOOM),
    ],
)
def test_null_retry_options_fail_the_orchestration(host: Host, name: str, value: object) -> None:
    output = failed(host, name, value)
    assert output.startswith(f"Orchestrator function '{name}' failed: ")


# UnhandledActivityException (L2228)
def test_unhandled_activity_exception(host: Host) -> None:
    output = failed(host, "ThrowOrchestrator", BOOM)
    assert output.startswith(
        "Orchestrator function 'ThrowOrchestrator' failed: Activity function 'ThrowActivity' "
        f"failed: Exception: {BOOM}"
    )


# UnhandledSubOrchestratorActivityException (L2281)
def test_unhandled_sub_orchestrator_activity_exception(host: Host) -> None:
    output = failed(host, "CallOrchestrator", {"FunctionName": "ThrowOrchestrator", "Input": BOOM})
    assert output.startswith(
        "Orchestrator function 'CallOrchestrator' failed: Orchestrator function "
        "'ThrowOrchestrator' failed: Activity function 'ThrowActivity' failed: "
        f"Exception: {BOOM}"
    )


# UnhandledActivityExceptionWithRetry (L2327): three attempts, then the last failure
def test_unhandled_activity_exception_with_retry(host: Host) -> None:
    iid = start(host, "ActivityThrowWithRetry", BOOM)
    st = wait_for(host, iid)
    assert st["runtimeStatus"] == "Failed"
    assert st["output"].startswith(
        "Orchestrator function 'ActivityThrowWithRetry' failed: Activity function "
        f"'ThrowActivity' failed: Exception: {BOOM}"
    )
    assert sum(e["EventType"] == "TaskFailed" for e in history(host, iid)) == 3


# StartOrchestration_OnUnregisteredOrchestrator (L2448): the client refuses, naming the function
def test_start_on_unregistered_orchestrator(host: Host) -> None:
    text = (
        "The function 'UnregisteredOrchestrator' doesn't exist, is disabled, or is not an "
        "orchestrator function"
    )
    reply = host.post_json("/durabletask/orchestrators/UnregisteredOrchestrator", "Unregistered")
    assert reply.status == 400 and text in reply.json()["ExceptionMessage"]
    with pytest.raises(Exception, match="doesn't exist"):
        start(host, "UnregisteredOrchestrator", "Unregistered")


def hangs(host: Host, iid: str, refusal: str) -> None:
    """Running, nothing scheduled, and devhost's one line naming the cause and issue 516."""
    assert host.proc.log_path is not None
    line = wait_until(
        lambda: next(
            (ln for ln in host.proc.log_path.read_text().splitlines() if iid in ln and ISSUE in ln),
            None,
        ),
        message=f"no refusal line for {iid}",
    )
    assert refusal in line
    # The line is written during the episode, the Instances row at its checkpoint just after:
    # wait for the checkpoint (under load the two are seconds apart), then it must say Running.
    st = wait_until(
        lambda: (s if (s := status(host, iid, "?showHistory=true"))["runtimeStatus"] != "Pending"
                 else None),
        message=f"{iid} still Pending after its first episode",
    )  # fmt: skip
    assert st["runtimeStatus"] == "Running"
    kinds = {e["EventType"] for e in st["historyEvents"]}
    assert not kinds & {"TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCompleted"}
    arun(host.client().terminate(iid, "test over"))


# Orchestration_OnUnregisteredActivity (L2608): .NET fails with the ArgumentException's text
def test_call_to_unregistered_activity_hangs_as_in_azure(host: Host) -> None:
    args = {"FunctionName": "UnregisteredActivity", "Input": {"Foo": "Bar"}}
    iid = start(host, "CallActivity", args)
    hangs(
        host,
        iid,
        "The function 'UnregisteredActivity' doesn't exist, is disabled, or is not an activity "
        "function",
    )


# Orchestration_OnUnregisteredOrchestrator (L2776)
def test_call_to_unregistered_orchestrator_hangs_as_in_azure(host: Host) -> None:
    args = {"FunctionName": "UnregisteredOrchestrator", "Input": {"Foo": "Bar"}}
    hangs(
        host,
        start(host, "CallOrchestrator", args),
        "The function 'UnregisteredOrchestrator' doesn't exist, is disabled, or is not an "
        "orchestrator function",
    )


# SubOrchestration_Requires_Different_Id_Than_Parent (L2096)
def test_sub_orchestration_with_the_parent_id_hangs_as_in_azure(host: Host) -> None:
    iid = str(uuid.uuid4())
    args = {"FunctionName": "ProvideParentInstanceId", "InstanceId": iid}
    start(host, "CallOrchestrator", args, iid)
    hangs(
        host,
        iid,
        "The instance ID of a sub-orchestration must be different than the instance ID of a "
        "parent orchestration.",
    )


# AzureStorage_FirstRetryIntervalLimitHit_ThrowsException (L4078): 7 days > the provider's 6
def test_first_retry_interval_over_six_days_hangs_as_in_azure(host: Host) -> None:
    iid = start(host, "SimpleActivityRetrySuccceds", 7 * 24 * 3600 * 1000)
    hangs(host, iid, "FirstRetryInterval")


# RewindOrchestration (L1531): the failed instance is rewound and completes
def test_rewind_orchestration(host: Host, tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("1")
    iid = start(host, "SayHelloWithActivityForRewind", {"name": "Catherine", "flag": str(flag)})
    assert wait_for(host, iid)["runtimeStatus"] == "Failed"
    flag.unlink()
    arun(host.client().rewind(iid, "rewind!"))
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", "Hello, Catherine!")
