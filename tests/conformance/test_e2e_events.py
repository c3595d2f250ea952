"""The extension's end-to-end scenarios, ported: external events, actors that continue as new,
timers, terminate / suspend / resume, custom status. Each test names its scenario in
test/Common/DurableTaskEndToEndTests.cs (Azure/azure-functions-durable-extension a7c6d694);
functions: tests/apps/e2e_app."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conformance.conftest import Host
from tests.conformance.e2e import (
    APP,
    history_has,
    raise_event,
    start,
    started_input,
    status,
    wait_custom_status,
    wait_for,
)
from tests.sdk import arun
from tests.waiting import wait_until

__all__ = ["APP"]
pytestmark = pytest.mark.e2e


def running(host: Host, name: str, value: Any = None, instance_id: str | None = None) -> str:
    """StartOrchestratorAsync + WaitForStartupAsync."""
    iid = start(host, name, value, instance_id)
    wait_for(host, iid, {"Running"})
    return iid


# ActorOrchestration (L1184): each operation continues the actor as new; the status shows the
# latest input
def test_actor_orchestration(host: Host) -> None:
    iid = running(host, "Counter", 0)
    for op, value in [("incr", 1), ("incr", 2), ("incr", 3), ("decr", 2), ("incr", 3)]:
        raise_event(host, iid, "operation", op)
        wait_custom_status(host, iid, value)
    assert status(host, iid)["runtimeStatus"] in ("Running", "ContinuedAsNew")
    raise_event(host, iid, "operation", "end")
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"], started_input(st)) == ("Completed", 3, 3)


# ActorOrchestration_NoWaiting (L1255): operations raised back to back. Events that arrive while
# an execution continues as new are carried over (DurableTask.AzureStorage's Carryover), so none
# is lost even though Python's continue_as_new cannot preserve buffered ones
def test_actor_orchestration_no_waiting(host: Host) -> None:
    iid = start(host, "Counter", 0)
    for op in ("incr", "incr", "incr", "decr", "incr", "end"):
        raise_event(host, iid, "operation", op)
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"], started_input(st)) == ("Completed", 3, 3)


# BatchedActorOrchestration (L1292)
def test_batched_actor_orchestration(host: Host) -> None:
    iid = start(host, "BatchActor")
    for n in range(1, 5):
        raise_event(host, iid, "newItem", f"item{n}")
    assert wait_for(host, iid, {"Running", "Completed"})["runtimeStatus"] == "Running"
    raise_event(host, iid, "newItem", "item5")
    assert wait_for(host, iid)["runtimeStatus"] == "Completed"


# BatchedActorOrchestrationDeleteLastItemAlways (L1331)
def test_batched_actor_delete_last_item_always(host: Host) -> None:
    iid = start(host, "BatchActorRemoveLast")
    for _ in range(4):
        raise_event(host, iid, "deleteItem")
    assert wait_for(host, iid, {"Running", "Completed"})["runtimeStatus"] == "Running"
    raise_event(host, iid, "deleteItem")
    assert wait_for(host, iid)["runtimeStatus"] == "Completed"


# ParallelBatchedActorOrchestration (L1370): three of four waits satisfied keep it Running (the
# test waits for the three events in history instead of sleeping 5 s)
def test_parallel_batched_actor_orchestration(host: Host) -> None:
    iid = running(host, "ParallelBatchActor")
    for n in range(1, 4):
        raise_event(host, iid, "newItem", f"item{n}")
    wait_for(host, iid, {"Running"})
    wait_until(lambda: history_has(host, iid, "EventRaised", 3), message="3 events in history")
    assert status(host, iid)["runtimeStatus"] == "Running"
    raise_event(host, iid, "newItem", "item4")
    assert wait_for(host, iid)["runtimeStatus"] == "Completed"


# ExternalEvents_MultipleNamesLooping (L1403)
def test_external_events_multiple_names_looping(host: Host) -> None:
    iid = start(host, "Counter2")
    for name in ("incr", "incr", "done"):
        raise_event(host, iid, name)
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", 2)


# TerminateOrchestration (L1435)
def test_terminate_orchestration(host: Host) -> None:
    iid = running(host, "Counter", 0)
    arun(host.client().terminate(iid, "sayōnara"))
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Terminated", "sayōnara")


# SuspendResumeOrchestration (L1486): events wait while suspended and go through on resume
# (the "end" raised before the resume is carried over to the execution "incr" continues to)
def test_suspend_resume_orchestration(host: Host) -> None:
    iid = running(host, "Counter", 0)
    arun(host.client().suspend(iid, "sleepyOrch"))
    wait_for(host, iid, {"Suspended"})
    raise_event(host, iid, "operation", "incr")
    raise_event(host, iid, "operation", "end")
    st = status(host, iid, "?showInput=false")
    assert (st["runtimeStatus"], st["output"]) == ("Suspended", None)
    arun(host.client().resume(iid, "wakeUp"))
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", 1)


# TimerCancellation (L1587)
def test_timer_cancellation(host: Host) -> None:
    iid = running(host, "Approval", 10)
    raise_event(host, iid, "approval", True)
    st = wait_for(host, iid)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", "Approved")


# TimerExpiration (L1632)
def test_timer_expiration(host: Host) -> None:
    st = wait_for(host, running(host, "Approval", 2))
    assert (st["runtimeStatus"], st["output"]) == ("Completed", "Expired")


# OrchestrationConcurrency (L1746): 100 instances, each waiting on its own timer (2 s here, 10
# s in .NET), all complete; the .NET 3-minute race is a wall-clock bound, kept only as the
# waiting deadline
def test_orchestration_concurrency(host: Host) -> None:
    ids = [start(host, "Approval", 2) for _ in range(100)]
    for iid in ids:
        assert wait_for(host, iid, timeout=180)["output"] == "Expired"


# SetStatusOrchestration (L2939). A Python orchestrator cannot clear its custom status: the
# shim applies it only when not null (OutOfProcOrchestrationShim.cs L78-81), so raising None
# leaves the previous one, where .NET's SetCustomStatus(null) clears it
def test_set_status_orchestration(host: Host) -> None:
    iid = running(host, "SetStatus")
    assert status(host, iid)["customStatus"] is None
    raise_event(host, iid, "UpdateStatus", "updated status")
    wait_custom_status(host, iid, "updated status")
    raise_event(host, iid, "UpdateStatus", None)
    wait_until(lambda: history_has(host, iid, "EventRaised", 2), message="second update")
    assert status(host, iid)["customStatus"] == "updated status"
    raise_event(host, iid, "UpdateStatus", {"Foo": "Bar", "Count": 2})
    st = wait_for(host, iid)
    assert st["runtimeStatus"] == "Completed"
    assert st["customStatus"] == {"Foo": "Bar", "Count": 2}


# RaiseEventToSubOrchestration (L2903): the event goes to the child by its id
def test_raise_event_to_sub_orchestration(host: Host) -> None:
    child = "SubOrchestration-" + uuid.uuid4().hex
    args = {"FunctionName": "Approval", "InstanceId": child, "Input": 300}
    iid = running(host, "CallOrchestrator", args)
    wait_for(host, child, {"Running"})
    raise_event(host, child, "approval", True)
    assert wait_for(host, iid)["output"] == "Approved"


# ContinueAsNew_Repro285 (L4345)
def test_continue_as_new_repro_285(host: Host) -> None:
    st = wait_for(host, start(host, "ContinueAsNew_Repro285", 0))
    assert (st["runtimeStatus"], st["output"]) == ("Completed", "ok")


# ContinueAsNewMultipleTimersAndEvents (L4373): each execution cancels its one-day timer and
# continues; the signals raised ahead of their execution are carried over
def test_continue_as_new_multiple_timers_and_events(host: Host) -> None:
    iid = running(host, "ContinueAsNewMultipleTimersAndEvents", 20)
    for i in range(20, 0, -1):
        raise_event(host, iid, f"signal{i}")
    st = wait_for(host, iid, timeout=120)
    assert (st["runtimeStatus"], st["output"]) == ("Completed", "ok")


# Dedupe_Default_NotRunning_ThrowsException (L5210): a start on a Running id fails with DTFx's
# OrchestrationAlreadyExistsException text (the SDK raises for the 500)
def test_dedupe_refuses_a_running_instance(host: Host) -> None:
    iid = "OverridableStatesDefaultTest_" + uuid.uuid4().hex
    running(host, "Counter", 0, iid)
    raise_event(host, iid, "operation", "incr")
    wait_custom_status(host, iid, 1)
    assert status(host, iid)["runtimeStatus"] in ("Running", "ContinuedAsNew")
    reply = host.post_json(f"/durabletask/orchestrators/Counter/{iid}", 0)
    assert reply.status == 500
    assert (
        "An Orchestration instance with the status Running already exists."
        in reply.json()["ExceptionMessage"]
    )
    with pytest.raises(Exception, match="already exists"):
        start(host, "Counter", 0, iid)
    arun(host.client().terminate(iid, "done"))
