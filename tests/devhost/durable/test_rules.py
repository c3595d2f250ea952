"""DurableTask.Core's orchestration rules as Azure applies them to a Python orchestrator, event by
event on the injected clock, with the real SDK. Sources: Azure/durabletask at
durabletask.azurestorage-v1.17.5 (DurableTask.Core v2.17.1, the version extension v2.13.7
references) and Azure/azure-functions-durable-extension a7c6d694 (v2.13.7); each test names the
file and lines it pins.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.durabletask.core.actions import failure_state
from devhost.durabletask.model.history import EventType
from tests.devhost.durable.replaykit import (
    T0,
    FixedClock,
    app_replayer,
    completed,
    fired,
    kinds,
    raised,
    run,
    running,
    started,
    task_messages,
    work_items,
)

Gen = Generator[Any, Any, Any]
HINT = "Was a change made to the orchestrator code after this instance had already started running?"


# --- open tasks: an execution completes only when nothing is open ----------------------------
def race(ctx: df.DurableOrchestrationContext) -> Gen:
    deadline = ctx.current_utc_datetime + timedelta(seconds=60)
    winner = yield ctx.task_any([ctx.call_activity("Work", 1), ctx.create_timer(deadline)])
    return winner.result


def race_cancelling(ctx: df.DurableOrchestrationContext) -> Gen:
    timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=60))
    winner = yield ctx.task_any([ctx.call_activity("Work", 1), timer])
    if winner is not timer:
        timer.cancel()
    return winner.result


def race_then_raise(ctx: df.DurableOrchestrationContext) -> Gen:
    deadline = ctx.current_utc_datetime + timedelta(seconds=60)
    yield ctx.task_any([ctx.call_activity("Work", 1), ctx.create_timer(deadline)])
    raise ValueError("gave up")


ORCHESTRATORS = {"Race": race, "RaceCancelling": race_cancelling, "RaceRaise": race_then_raise}


def test_a_pending_timer_keeps_the_instance_running_until_it_fires() -> None:
    # TaskOrchestrationExecutor.cs L150-178: CompleteOrchestration only `if
    # (!this.context.HasOpenTasks)`; the timer stays in openTasks until TimerFired
    # (TaskOrchestrationContext.cs L246-275, L525-538), although the SDK says isDone.
    clock = FixedClock()
    replayer = app_replayer(ORCHESTRATORS, ("Work",), clock)
    inst = running("Race")
    cp = run(replayer, inst, started(inst))
    [(timer, delay)] = task_messages(cp)
    assert (timer.event["TimerId"], delay) == (1, 60)
    clock.advance(5)
    run(replayer, inst, completed(0, "done"))
    assert (inst.status, inst.output, inst.completed) == ("Running", None, None)
    assert "ExecutionCompleted" not in kinds(inst)
    clock.advance(55)
    run(replayer, inst, fired(1, timer.event["FireAt"]))
    assert (inst.status, inst.output) == ("Completed", '"done"')
    assert inst.completed == T0 + timedelta(seconds=60)


def test_a_cancelled_timer_is_still_created_but_does_not_hold_the_instance() -> None:
    # OutOfProcOrchestrationShim.cs L118-135: CreateTimer, then cts.Cancel() when isCanceled;
    # the cancellation removes the timer from openTasks (TaskOrchestrationContext.cs L260-270)
    # but its CreateTimerOrchestratorAction was already recorded.
    replayer = app_replayer(ORCHESTRATORS, ("Work",))
    inst = running("RaceCancelling")
    cp = run(replayer, inst, started(inst))
    assert [m.event["TimerId"] for m, _ in task_messages(cp)] == [1]
    run(replayer, inst, completed(0, "done"))
    assert (inst.status, inst.output) == ("Completed", '"done"')
    assert kinds(inst).count("TimerCreated") == 1


def test_an_open_activity_keeps_the_instance_running_after_the_timer_wins() -> None:
    # The same rule for an activity: the loser of task_any stays in openTasks.
    clock = FixedClock()
    replayer = app_replayer(ORCHESTRATORS, ("Work",), clock)
    inst = running("Race")
    cp = run(replayer, inst, started(inst))
    [(timer, _)] = task_messages(cp)
    clock.advance(60)
    run(replayer, inst, fired(1, timer.event["FireAt"]))
    assert (inst.status, inst.output) == ("Running", None)
    clock.advance(30)
    run(replayer, inst, completed(0, "late"))
    assert (inst.status, inst.output) == ("Completed", "null")  # the timer's result
    assert inst.completed == T0 + timedelta(seconds=90)


def test_a_failure_also_waits_for_open_tasks() -> None:
    # L150-178 guard FailOrchestration as well: the shim throws only after replaying its
    # actions (OutOfProcOrchestrationShim.cs L83-91), and the open timer keeps it from ending.
    clock = FixedClock()
    replayer = app_replayer(ORCHESTRATORS, ("Work",), clock)
    inst = running("RaceRaise")
    cp = run(replayer, inst, started(inst))
    [(timer, _)] = task_messages(cp)
    run(replayer, inst, completed(0, 1))
    assert inst.status == "Running"
    clock.advance(60)
    run(replayer, inst, fired(1, timer.event["FireAt"]))
    assert inst.status == "Failed"
    assert json.loads(inst.output or "") == "Orchestrator function 'RaceRaise' failed: gave up"


# --- non-determinism: every replayed scheduling event against the action with its number ----
CODE: dict[str, str] = {}


def changing(ctx: df.DurableOrchestrationContext) -> Gen:
    kind, name = CODE["kind"], CODE["name"]
    if kind == "activity":
        yield ctx.call_activity(name, "x")
    elif kind == "timer":
        yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=1))
    elif kind == "sub":
        yield ctx.call_sub_orchestrator(name, None)
    return "done"


def child(ctx: df.DurableOrchestrationContext) -> Gen:
    return "child"
    yield


CHANGES = [
    # TaskOrchestrationContext.cs L299-306: same kind, another name
    (
        ("activity", "Upper"),
        ("activity", "Lower"),
        "A previous execution of this orchestration scheduled an activity task with sequence "
        "number 0 named 'Upper', but the current orchestration replay instead scheduled an "
        f"activity task named 'Lower' with this sequence number.  {HINT}",
    ),
    # L290-297: another kind at that number
    (
        ("activity", "Upper"),
        ("timer", ""),
        "A previous execution of this orchestration scheduled an activity task with sequence "
        "number 0 named 'Upper', but the current orchestration replay instead produced a "
        f"CreateTimerOrchestratorAction action with this sequence number. {HINT}",
    ),
    # L280-287: nothing at that number
    (
        ("activity", "Upper"),
        ("none", ""),
        "A previous execution of this orchestration scheduled an activity task with sequence ID "
        "0 and name 'Upper' (version ''), but the current replay execution hasn't (yet?) "
        f"scheduled this task. {HINT}",
    ),
    # L328-336 (DTFx's own "named but")
    (
        ("timer", ""),
        ("activity", "Upper"),
        "A previous execution of this orchestration scheduled a timer task with sequence number "
        "0 named but the current orchestration replay instead produced a "
        f"ScheduleTaskOrchestratorAction action with this sequence number. {HINT}",
    ),
    # L364-372
    (
        ("sub", "Child"),
        ("sub", "Other"),
        "A previous execution of this orchestration scheduled a sub-orchestration task with "
        "sequence ID 0 and name 'Child' (version '', instance ID 'exec-1:0'), but the current "
        "orchestration replay instead scheduled a sub-orchestration task with name Other at "
        f"this sequence number. {HINT}",
    ),
]


@pytest.mark.parametrize(("before", "after", "message"), CHANGES)
def test_a_changed_action_fails_the_orchestration_as_non_deterministic(
    before: tuple[str, str], after: tuple[str, str], message: str
) -> None:
    replayer = app_replayer(
        {"Changing": changing, "Child": child, "Other": child}, ("Upper", "Lower")
    )
    inst = running("Changing")
    CODE.update(kind=before[0], name=before[1])
    run(replayer, inst, started(inst))
    CODE.update(kind=after[0], name=after[1])
    completion = fired(0, "2026-01-02T03:04:06.678000Z") if before[0] == "timer" else None
    cp = run(replayer, inst, completion or completed(0, "X"))
    # NonDeterministicOrchestrationException.cs L43-47 prefixes the text; FailOrchestration
    # makes the message the output (TaskOrchestrationContext.cs L609-661)
    assert inst.status == "Failed"
    assert json.loads(inst.output or "") == "Non-Deterministic workflow detected: " + message
    assert work_items(cp) == [] and cp.starts == []
    assert kinds(inst)[-2:] == ["OrchestratorCompleted", "ExecutionCompleted"]


def test_a_name_differing_only_in_case_is_the_same_action() -> None:
    # L299: string.Equals(..., StringComparison.OrdinalIgnoreCase)
    replayer = app_replayer({"Changing": changing}, ("Upper",))
    inst = running("Changing")
    CODE.update(kind="activity", name="Upper")
    run(replayer, inst, started(inst))
    CODE.update(name="UPPER")
    run(replayer, inst, completed(0, "X"))
    assert (inst.status, inst.output) == ("Completed", '"done"')


# --- continue-as-new: the next execution in the same work item, raised events carried over ---
def accumulate(ctx: df.DurableOrchestrationContext) -> Gen:
    total = ctx.get_input()
    value = yield ctx.wait_for_external_event("add")
    ctx.continue_as_new(total + int(value))


def eternal(ctx: df.DurableOrchestrationContext) -> Gen:
    timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=30))
    yield ctx.task_any([ctx.wait_for_external_event("tick"), timeout])
    ctx.set_custom_status({"generation": ctx.get_input()})
    ctx.continue_as_new(ctx.get_input() + 1)  # the timer is not cancelled


def test_events_raised_after_continue_as_new_are_carried_to_the_next_execution() -> None:
    # TaskOrchestrationContext.HandleEventRaisedEvent L414-424: once the shim has called
    # ContinueAsNew, an EventRaised goes to the next execution (AzureStorage's
    # EventBehaviourForContinueAsNew defaults to Carryover,
    # AzureStorageOrchestrationServiceSettings.cs L219); TaskOrchestrationDispatcher L444-456 and
    # L575-590 start that execution in the same work item with those events in its history.
    clock = FixedClock()
    replayer = app_replayer({"Accumulate": accumulate}, clock=clock)
    inst = running("Accumulate", 0)
    run(replayer, inst, started(inst))
    clock.advance(1)
    cp = run(replayer, inst, raised("add", 1), raised("add", 2))
    # exec-1 takes 1 and continues as exec-2, which takes the carried 2 and continues as exec-3
    assert (inst.execution_id, inst.input, inst.status) == ("exec-3", "3", "Running")
    assert kinds(inst) == ["OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]
    assert inst.created == T0 + timedelta(seconds=1) and cp.starts == []


def test_events_buffered_before_continue_as_new_are_dropped() -> None:
    # The extension buffers an event nothing waits for (DurableOrchestrationContext.RaiseEvent
    # L949-969); the shim calls ContinueAsNew(input) with preserveUnprocessedEvents false
    # (L1044-1050), so DurableTaskExtension L826-835 does not re-send the buffer.
    replayer = app_replayer({"Accumulate": accumulate})
    inst = running("Accumulate", 0)
    run(replayer, inst, started(inst))
    run(replayer, inst, raised("other", "x"), raised("add", 5))
    assert (inst.execution_id, inst.input) == ("exec-2", "5")
    assert "EventRaised" not in kinds(inst)


def test_continue_as_new_waits_for_an_open_timer_and_carries_what_arrives_meanwhile() -> None:
    # HasOpenTasks (TaskOrchestrationExecutor.cs L153) holds ContinueAsNew like any completion;
    # a tick processed after the shim reached ContinueAsNew is carried over (L414-424) and the
    # next execution takes it at once (its custom status says so).
    clock = FixedClock()
    replayer = app_replayer({"Eternal": eternal}, clock=clock)
    inst = running("Eternal", 0)
    cp = run(replayer, inst, started(inst))
    [(timer, _)] = task_messages(cp)
    run(replayer, inst, raised("tick", 1))
    run(replayer, inst, raised("tick", 2))
    assert (inst.execution_id, inst.status) == ("exec-1", "Running")
    clock.advance(30)
    run(replayer, inst, fired(0, timer.event["FireAt"]))
    assert (inst.execution_id, inst.input, inst.status) == ("exec-2", "1", "Running")
    assert json.loads(inst.custom_status or "") == {"generation": 1}
    assert kinds(inst) == [
        "OrchestratorStarted", "ExecutionStarted", "EventRaised", "TimerCreated",
        "OrchestratorCompleted",
    ]  # fmt: skip
    assert inst.history[2]["Input"] == "2"


# --- sub-orchestration failures reach the parent as DTFx sends them ------------------------
def parent_catches(ctx: df.DurableOrchestrationContext) -> Gen:
    try:
        yield ctx.call_sub_orchestrator("Failing", None)
    except Exception as exc:
        return str(exc)


def failing(ctx: df.DurableOrchestrationContext) -> Gen:
    raise ValueError("bad")
    yield


def test_a_failed_sub_orchestration_sends_its_reason_and_details_once() -> None:
    # The child fails with OrchestrationFailureException("Orchestrator function 'Failing'
    # failed: bad", "Message: bad, StackTrace: ...") (OutOfProcOrchestrationShim.cs L85-91);
    # ProcessWorkflowCompletedTaskDecision (L952-960) sends Reason = that result and Details
    # as they are; the SDK raises Exception(f"{Reason} \n {Details}").
    replayer = app_replayer({"Parent": parent_catches, "Failing": failing})
    inst = running("Parent")
    [kid] = run(replayer, inst, started(inst)).starts
    assert kid.instance_id == "exec-1:0"  # TaskOrchestrationContext.cs L163-167
    kid.status = "Running"
    [(to_parent, _)] = task_messages(run(replayer, kid, started(kid)))
    ev = to_parent.event
    assert ev["EventType"] == EventType.SubOrchestrationInstanceFailed
    assert ev["Reason"] == "Orchestrator function 'Failing' failed: bad"
    assert ev["Details"].startswith("Message: bad, StackTrace: Traceback (most recent call")
    assert "$OutOfProcData$" not in ev["Details"]  # the SDK's state stays out of the text
    run(replayer, inst, ev)
    assert json.loads(inst.output or "") == f"{ev['Reason']} \n {ev['Details']}"


def parent_lets_it_fail(ctx: df.DurableOrchestrationContext) -> Gen:
    return (yield ctx.call_sub_orchestrator("Failing", None))


def test_an_uncaught_sub_orchestration_failure_fails_the_parent_with_both_reasons() -> None:
    # The parent's own exception message then holds the child's reason and its state suffix
    # comes last: the shim reads the state after the last "$OutOfProcData$:" (the SDK's
    # TaskOrchestrationExecutor.get_orchestrator_state_str appends it to the message).
    replayer = app_replayer({"Parent": parent_lets_it_fail, "Failing": failing})
    inst = running("Parent")
    [kid] = run(replayer, inst, started(inst)).starts
    kid.status = "Running"
    [(to_parent, _)] = task_messages(run(replayer, kid, started(kid)))
    run(replayer, inst, to_parent.event)
    assert inst.status == "Failed"
    assert json.loads(inst.output or "").startswith(
        "Orchestrator function 'Parent' failed: Orchestrator function 'Failing' failed: bad \n "
    )


def marked(ctx: df.DurableOrchestrationContext) -> Gen:
    if ctx.get_input() == 0:
        ctx.set_custom_status("first")
        ctx.continue_as_new(1)
        return None
    return (yield ctx.wait_for_external_event("go"))


def test_the_custom_status_carries_over_until_the_next_execution_sets_one() -> None:
    # TaskOrchestrationDispatcher L590: runtimeState.Status = the old state's Status.
    replayer = app_replayer({"Marked": marked})
    inst = running("Marked", 0)
    run(replayer, inst, started(inst))
    assert (inst.execution_id, inst.input, inst.custom_status) == ("exec-2", "1", '"first"')


# --- what the Python SDK does with events that arrive early ----------------------------------
def add_events(ctx: df.DurableOrchestrationContext) -> Gen:
    total = 0
    for _ in range(5):
        number = yield ctx.wait_for_external_event("add")
        total += yield ctx.call_activity("Add", [total, number])
    return total


def test_early_events_of_one_name_are_kept_once_by_the_python_sdk() -> None:
    # DurableTaskEndToEndTests.cs WaitForEventAndCallActivity_DroppedEventsTest (L2412): five
    # "add" events arrive together. .NET's extension queues early events per name (0+1+2+3+4
    # folds to 26); the Python SDK matches events itself and keeps one early event per name,
    # overwritten by the next and re-used by every later wait (TaskOrchestrationExecutor.py
    # L207-216, DurableOrchestrationContext._add_to_open_tasks L786-795): 0, 4, 4, 4, 4. devhost
    # hands the SDK DTFx's history, so a Python app gets what it gets in Azure: 60.
    replayer = app_replayer({"AddEvents": add_events}, ("Add",))
    inst = running("AddEvents")
    run(replayer, inst, started(inst))
    cp = run(replayer, inst, *[raised("add", i) for i in range(5)])
    seen = []
    while items := work_items(cp):
        [item] = items
        a, b = json.loads(item.input or "null")
        seen.append([a, b])
        cp = run(replayer, inst, completed(item.task_scheduled_id, a + b))
    assert seen == [[0, 0], [0, 4], [4, 4], [12, 4], [28, 4]]
    assert (inst.status, inst.output) == ("Completed", "60")


def test_the_sdk_state_is_read_after_its_label() -> None:
    # OutOfProcExceptionHelpers.TryExtractOutOfProcStateJson (L47-78) looks for the label
    # "\n\n$OutOfProcData$:" the SDK writes (get_orchestrator_state_str); a message quoting the
    # marker without it keeps its text.
    state_json = '{"error": "mine", "isDone": false}'
    message = f'child said "$OutOfProcData$:{{}}"\n\n$OutOfProcData$:{state_json}'
    state, error = failure_state(message)
    assert (state, error) == ({"error": "mine", "isDone": False}, "mine")
