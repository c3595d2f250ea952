"""What the extension refuses or limits, as Azure does it to a Python orchestrator: calls the
context API rejects (swallowed: the instance waits forever), names looked up ignoring case, the
16 KB custom status and the large-property threshold. Sources: extension a7c6d694 (v2.13.7)
src/WebJobs.Extensions.DurableTask/..., DurableTask.AzureStorage v1.17.5; each test names its
file and lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Generator
from typing import Any, cast

import azure.durable_functions as df
import pytest

from devhost.durabletask.azurestorage.tracking import exceeds_property_limit
from devhost.durabletask.core.activity_dispatcher import ActivityDispatcher
from devhost.durabletask.memory import MemoryTaskHub
from devhost.durabletask.model.history import EventType
from devhost.durabletask.model.messages import ActivityRequest
from tests.devhost.durable.replaykit import (
    FixedClock,
    MemoryRunner,
    app_replayer,
    completed,
    id_factory,
    kinds,
    raised,
    run,
    running,
    started,
    work_items,
)

Gen = Generator[Any, Any, Any]
ISSUE = "https://github.com/Azure/azure-functions-durable-python/issues/516"


def calls(ctx: df.DurableOrchestrationContext) -> Gen:
    """Calls whatever its input names: [["activity" | "sub", name, instance id or None], ...]."""
    tasks = []
    for kind, name, child_id in ctx.get_input():
        if kind == "activity":
            tasks.append(ctx.call_activity(name, None))
        elif kind == "retry":
            tasks.append(ctx.call_activity_with_retry(name, df.RetryOptions(7 * 86_400_000, 2)))
        else:
            tasks.append(ctx.call_sub_orchestrator(name, None, child_id))
    return (yield ctx.task_all(tasks))


def child(ctx: df.DurableOrchestrationContext) -> Gen:
    return "child"
    yield


KNOWN = "The following are the known activity functions: 'Upper'."
REFUSALS = [
    # DurableOrchestrationContext.cs L563 -> DurableTaskExtension.ThrowIfFunctionDoesNotExist
    # (L1325-1344) with GetInvalidActivityFunctionMessage (L1352-1365)
    (
        ["activity", "Uper", None],
        "The function 'Uper' doesn't exist, is disabled, or is not an activity function. "
        f"Additional info: {KNOWN}",
    ),
    (
        ["sub", "Chidl", None],
        "The function 'Chidl' doesn't exist, is disabled, or is not an orchestrator function. "
        "Additional info: The following are the known orchestrator functions: 'Calls', 'Child'.",
    ),
    # L596-600: the parent's own id
    (
        ["sub", "Child", "INST-1"],
        "The instance ID of a sub-orchestration must be different than the instance ID of a "
        "parent orchestration.",
    ),
    # L603-606: ArgumentException(nameof(instanceId), "...") prints the text as its parameter
    (
        ["sub", "Child", "@c"],
        "instanceId (Parameter 'Orchestration instance ids must not start with @')",
    ),
    # L548-558 + AzureStorageDurabilityProvider.ValidateDelayTime L178-187: 7 days > 6
    (
        ["retry", "Upper", None],
        "The Azure Storage provider supports a maximum of 6 days for time-based delays "
        "(Parameter 'FirstRetryInterval')",
    ),
]


@pytest.mark.parametrize(("call", "message"), REFUSALS)
def test_a_refused_call_schedules_nothing_and_the_instance_waits(
    call: list[Any], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The context API raises inside an async method, the shim's catch swallows it
    # (OutOfProcOrchestrationShim.cs L199-219) and the SDK waits for a result that never comes:
    # the instance stays Running (azure-functions-durable-python issue 516). devhost says why,
    # once.
    replayer = app_replayer({"Calls": calls, "Child": child}, ("Upper",))
    inst = running("Calls", [call])
    with caplog.at_level(logging.WARNING, logger="devhost.durable"):
        cp = run(replayer, inst, started(inst))
        run(replayer, inst, raised("unrelated", 1))
    assert (work_items(cp), cp.starts, inst.status) == ([], [], "Running")
    assert kinds(inst).count("OrchestratorCompleted") == 2
    assert not {"TaskScheduled", "SubOrchestrationInstanceCreated"} & set(kinds(inst))
    [line] = [r.getMessage() for r in caplog.records]
    assert message in line and ISSUE in line


def test_a_refused_call_takes_no_sequence_number() -> None:
    # Only ScheduleTaskInternal advances TaskOrchestrationContext.idCounter (L105): the next
    # call takes number 0 while the SDK numbered it 1.
    replayer = app_replayer({"Calls": calls}, ("Upper",))
    inst = running("Calls", [["activity", "Uper", None], ["activity", "Upper", None]])
    [item] = work_items(run(replayer, inst, started(inst)))
    assert (item.name, item.task_scheduled_id) == ("Upper", 0)


def test_actions_over_max_orchestration_actions_are_refused() -> None:
    # IncrementActionsOrThrowException (DurableOrchestrationContext.cs L1209-1219), raised in
    # the same async method: swallowed like the others.
    replayer = app_replayer({"Calls": calls}, ("Upper",), max_actions=2)
    inst = running("Calls", [["activity", "Upper", None]] * 3)
    cp = run(replayer, inst, started(inst))
    assert [i.task_scheduled_id for i in work_items(cp)] == [0, 1]
    assert inst.status == "Running"


def test_an_activity_name_is_resolved_ignoring_case() -> None:
    # FunctionName equality is OrdinalIgnoreCase (FunctionName.cs L60-86): "upper" passes
    # ThrowIfFunctionDoesNotExist and GetObject (DurableTaskExtension.cs L680-697) runs "Upper";
    # history keeps the name the orchestrator used.
    runner = MemoryRunner({"Calls": calls, "child": child}, {"Upper": lambda _: "UP"})
    hub = MemoryTaskHub(runner, clock=FixedClock(), new_id=id_factory())
    spec = [["activity", "upper", None], ["sub", "CHILD", None]]
    asyncio.run(hub.client.start_new("Calls", "c", json.dumps(spec)))
    asyncio.run(hub.run_until_idle())
    inst = asyncio.run(hub.client.read("c", history=True))
    assert inst is not None and inst.output is not None
    assert (inst.status, json.loads(inst.output)) == ("Completed", ["UP", "child"])
    assert runner.runs == ["Upper"]
    [sched] = [e for e in inst.history if e["EventType"] == EventType.TaskScheduled]
    assert sched["Name"] == "upper"


def test_an_activity_nothing_answers_to_fails_as_nonexistent() -> None:
    # TaskNonexistentActivityShim.cs L25-33: a work item whose activity is gone (renamed after
    # it was scheduled) fails with "Activity function '{name}' does not exist."
    runner = MemoryRunner({}, {"Upper": lambda _: "UP"})
    dispatcher = ActivityDispatcher(cast(Any, None), runner)
    ev = asyncio.run(dispatcher.execute(ActivityRequest("i", "e", "Gone", None, 3)))
    assert (ev["EventType"], ev["TaskScheduledId"]) == (EventType.TaskFailed, 3)
    assert ev["Reason"] == (
        "Activity function 'Gone' failed: Activity function 'Gone' does not exist."
    )
    assert runner.runs == []


# --- payload limits --------------------------------------------------------------------------
def chatty(ctx: df.DurableOrchestrationContext) -> Gen:
    size, late = ctx.get_input()
    if late:
        yield ctx.call_activity("Upper", "a")
    ctx.set_custom_status("x" * size)
    return (yield ctx.wait_for_external_event("go"))


def test_custom_status_up_to_16_kb_is_kept() -> None:
    # MessagePayloadDataConverter.Serialize (L41-72): (int)(UTF-16 bytes / 1024) > 16 fails;
    # "x" * 8190 is 8192 JSON characters, 16384 bytes: exactly 16 KB.
    replayer = app_replayer({"Chatty": chatty}, ("Upper",))
    inst = running("Chatty", [8190, False])
    run(replayer, inst, started(inst))
    assert inst.status == "Running" and len(inst.custom_status or "") == 8192


def test_custom_status_over_16_kb_fails_the_orchestration() -> None:
    # DurableOrchestrationContext.SetCustomStatus (L221-230) throws ArgumentException; the shim
    # calls it first (OutOfProcOrchestrationShim.cs L77-81) and TaskOrchestrationShim (L192-206)
    # fails the orchestration with "Orchestrator function '{name}' failed: {message}".
    replayer = app_replayer({"Chatty": chatty}, ("Upper",))
    inst = running("Chatty", [8704, False])  # 8706 characters: 17412 bytes, 17 KB
    run(replayer, inst, started(inst))
    assert inst.status == "Failed"
    assert json.loads(inst.output or "") == (
        "Orchestrator function 'Chatty' failed: The UTF-16 size of the JSON-serialized payload "
        "must not exceed 16 KB. The current payload size is 17 KB."
    )
    assert inst.custom_status is None


def test_custom_status_over_16_kb_after_a_task_fails_as_non_deterministic() -> None:
    # The same throw happens before the shim replays any action, so DurableTask.Core then
    # replays the earlier TaskScheduled with no action to match (TaskOrchestrationContext.cs
    # L280-287): that exception is the one FailOrchestration records.
    replayer = app_replayer({"Chatty": chatty}, ("Upper",))
    inst = running("Chatty", [8704, True])
    run(replayer, inst, started(inst))
    run(replayer, inst, completed(0, "A"))
    assert inst.status == "Failed"
    assert json.loads(inst.output or "").startswith(
        "Non-Deterministic workflow detected: A previous execution of this orchestration "
        "scheduled an activity task with sequence ID 0 and name 'Upper' (version ''), but the "
        "current replay execution hasn't (yet?) scheduled this task."
    )


@pytest.mark.parametrize(
    ("text", "large"),
    [
        ("a" * 30_720, False),  # 61,440 bytes of UTF-16: exactly 60 KB stays in the table
        ("a" * 30_721, True),
        ("\U0001f600" * 15_361, True),  # 15,361 characters, 4 bytes each: 61,444 bytes
    ],
)
def test_a_property_goes_to_a_blob_over_60_kb_of_utf16(text: str, large: bool) -> None:
    # AzureTableTrackingStore.ExceedsMaxTablePropertySize (L1424-1432):
    # Encoding.Unicode.GetByteCount(data) > 60 * 1024.
    assert exceeds_property_limit(text) is large
