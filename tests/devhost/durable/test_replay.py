"""Replay, event by event, with the real Durable SDK and no storage (like durabletask-python's
tests/test_orchestration_executor.py). Each test feeds the events the dispatcher would admit and
checks the decisions: work items, timers, starts, history, final status.

Protocol facts pinned here come from the SDK (azure/durable_functions/models/
TaskOrchestrationExecutor.py: task ids from one counter in scheduling order; RetryAble tasks wait
for a TimerCreated/TimerFired pair between attempts) and from DurableTask.Core's history model.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.contracts import FunctionInvocationError
from devhost.durabletask.core.activity_dispatcher import failure_reason
from devhost.durabletask.core.executor import segments
from devhost.durabletask.model.history import EventType, event, iso
from tests.devhost.durable.replaykit import (
    T0,
    FixedClock,
    completed,
    failed,
    fired,
    kinds,
    make_replayer,
    run,
    running,
    sdk_call,
    started,
    task_messages,
    work_items,
)


def chain(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity("Upper", ctx.get_input())
    b = yield ctx.call_activity("Exclaim", a)
    return b


def test_chain_schedules_one_activity_per_episode_with_sequential_ids() -> None:
    replayer = make_replayer(sdk_call({"Chain": chain}))
    inst = running("Chain", "tokyo")

    cp = run(replayer, inst, started(inst))
    [item] = work_items(cp)
    assert (item.name, json.loads(item.input or "null"), item.task_scheduled_id) == (
        "Upper",
        "tokyo",
        0,
    )
    assert kinds(inst) == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "TaskScheduled",
        "OrchestratorCompleted",
    ]

    cp = run(replayer, inst, completed(0, "TOKYO"))
    [item] = work_items(cp)
    assert (item.name, item.task_scheduled_id) == ("Exclaim", 1)
    assert inst.status == "Running"

    cp = run(replayer, inst, completed(1, "TOKYO!"))
    assert work_items(cp) == []
    assert inst.status == "Completed"
    assert json.loads(inst.output or "null") == "TOKYO!"
    assert kinds(inst).count("ExecutionCompleted") == 1


def fan_out(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    results = yield ctx.task_all([ctx.call_activity("Square", n) for n in (1, 2, 3)])
    return sum(results)


def test_fan_out_schedules_all_at_once_and_fans_in_out_of_order() -> None:
    replayer = make_replayer(sdk_call({"FanOut": fan_out}))
    inst = running("FanOut")
    cp = run(replayer, inst, started(inst))
    assert [i.task_scheduled_id for i in work_items(cp)] == [0, 1, 2]
    assert run(replayer, inst, completed(2, 9)).messages == []
    assert inst.status == "Running"
    run(replayer, inst, completed(0, 1), completed(1, 4))
    assert (inst.status, json.loads(inst.output or "0")) == ("Completed", 14)


def flaky(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity_with_retry("Flaky", df.RetryOptions(2000, 3), None))


def test_retry_allocates_timer_then_next_attempt_ids_like_the_sdk() -> None:
    clock = FixedClock()
    replayer = make_replayer(sdk_call({"Retry": flaky}), clock)
    inst = running("Retry")
    [first] = work_items(run(replayer, inst, started(inst)))
    assert first.task_scheduled_id == 0

    # attempt 1 fails 0.25 s later: a retry timer takes id 1, due exactly one first retry
    # interval (2 s) after the episode that saw the failure
    clock.advance(0.25)
    cp = run(replayer, inst, failed(0, "boom"))
    [(timer_msg, delay)] = task_messages(cp)
    assert timer_msg.event["EventType"] == EventType.TimerFired
    assert timer_msg.event["TimerId"] == 1
    assert delay == 2.0
    assert timer_msg.event["FireAt"] == iso(T0 + timedelta(seconds=2.25))
    assert work_items(cp) == []

    # the timer fires: attempt 2 takes id 2
    [second] = work_items(run(replayer, inst, fired(1, timer_msg.event["FireAt"])))
    assert (second.name, second.task_scheduled_id) == ("Flaky", 2)

    cp = run(replayer, inst, completed(2, "ok"))
    assert (inst.status, json.loads(inst.output or "null")) == ("Completed", "ok")


def test_retries_exhausted_fail_the_orchestration_with_the_activity_reason() -> None:
    replayer = make_replayer(sdk_call({"Retry": flaky}))
    inst = running("Retry")
    run(replayer, inst, started(inst))
    next_id = 0
    for attempt in range(3):
        cp = run(replayer, inst, failed(next_id, f"boom {attempt}"))
        [(timer_msg, delay)] = task_messages(cp)
        if attempt == 2:
            assert delay == 0  # after the last attempt the SDK still waits for one timer
        cp = run(replayer, inst, fired(timer_msg.event["TimerId"], timer_msg.event["FireAt"]))
        if attempt < 2:
            [item] = work_items(cp)
            next_id = item.task_scheduled_id
    assert inst.status == "Failed"
    assert "boom 2" in (inst.output or "")


def test_retry_events_are_replayed_one_per_episode() -> None:
    inst = running("Retry")
    run(make_replayer(sdk_call({"Retry": flaky})), inst, started(inst))
    batch = [failed(0, "x"), event(EventType.EventRaised, Name="e", Input="1")]
    assert [len(s) for s in segments(inst, batch)] == [1, 1]


def timer(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=30))
    return "woke"


def test_timer_is_a_delayed_message_and_completes_when_fired() -> None:
    replayer = make_replayer(sdk_call({"Timer": timer}))
    inst = running("Timer")
    cp = run(replayer, inst, started(inst))
    [(msg, delay)] = task_messages(cp)
    assert msg.event["TimerId"] == 0
    # ctx.current_utc_datetime is the episode's OrchestratorStarted time: the injected clock
    assert delay == 30
    assert msg.event["FireAt"] == iso(T0 + timedelta(seconds=30))
    assert kinds(inst)[2] == "TimerCreated"
    run(replayer, inst, fired(0, msg.event["FireAt"]))
    assert (inst.status, inst.output) == ("Completed", '"woke"')


def approval(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    answer = yield ctx.wait_for_external_event("Approval")
    return f"answer={answer}"


def test_external_event_matches_by_name_and_takes_no_task_id() -> None:
    replayer = make_replayer(sdk_call({"Approval": approval}))
    inst = running("Approval")
    assert run(replayer, inst, started(inst)).messages == []
    run(replayer, inst, event(EventType.EventRaised, Name="Other", Input='"no"'))
    assert inst.status == "Running"
    run(replayer, inst, event(EventType.EventRaised, Name="Approval", Input='"7026"'))
    # the raised JSON text reaches the orchestrator decoded once: the string "7026"
    assert json.loads(inst.output or "null") == "answer=7026"


def parent(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield ctx.call_sub_orchestrator("Child", 5, instance_id="child-1"))


def child(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return ctx.get_input() * 2
    yield  # a generator


def test_sub_orchestration_starts_child_and_reports_back_to_parent() -> None:
    replayer = make_replayer(sdk_call({"Parent": parent, "Child": child}))
    inst = running("Parent")
    cp = run(replayer, inst, started(inst))
    [kid] = cp.starts
    assert (kid.instance_id, kid.name, kid.input) == ("child-1", "Child", "5")
    assert kid.parent == {"instanceId": "inst-1", "executionId": "exec-1", "taskScheduledId": 0}

    kid.status = "Running"
    cp = run(replayer, kid, started(kid))
    assert kid.status == "Completed"
    [(to_parent, _)] = task_messages(cp)
    assert (to_parent.instance_id, to_parent.execution_id) == ("inst-1", "exec-1")
    assert to_parent.event["EventType"] == EventType.SubOrchestrationInstanceCompleted

    run(replayer, inst, to_parent.event)
    assert (inst.status, inst.output) == ("Completed", "10")


def counter(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    n = ctx.get_input()
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    return n
    yield  # a generator


def test_continue_as_new_runs_the_next_executions_in_the_same_work_item() -> None:
    # TaskOrchestrationDispatcher.OnProcessWorkItemAsync L352-590: `do { ... } while
    # (continuedAsNew)` - the next execution's first episode runs at once, and only the last
    # execution's state is checkpointed (its history from sequence number 0).
    clock = FixedClock()
    replayer = make_replayer(sdk_call({"Counter": counter}), clock)
    inst = running("Counter", 0)
    cp = run(replayer, inst, started(inst))
    assert cp.starts == []
    assert (inst.execution_id, inst.input, inst.status, inst.output) == (
        "exec-3",
        "2",
        "Completed",
        "2",
    )
    assert kinds(inst) == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "OrchestratorCompleted",
        "ExecutionCompleted",
    ]
    assert inst.persisted == 0 and inst.created == clock.now


def broken(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield ctx.call_activity("A", None)
    raise ValueError("bad state")


def test_raising_orchestrator_fails_with_its_message() -> None:
    replayer = make_replayer(sdk_call({"Broken": broken}))
    inst = running("Broken")
    run(replayer, inst, started(inst))
    run(replayer, inst, completed(0, None))
    assert inst.status == "Failed"
    assert "Orchestrator function 'Broken' failed" in (inst.output or "")
    assert "bad state" in (inst.output or "")


def test_terminate_ends_the_instance_without_running_the_orchestrator() -> None:
    calls: list[str] = []

    async def call(name: str, ctx: str) -> str:
        calls.append(name)
        return json.dumps({"isDone": False, "actions": [], "schemaVersion": 1})

    inst = running("X")
    replayer = make_replayer(call)
    run(replayer, inst, started(inst))
    stop = event(EventType.ExecutionTerminated, Input="enough")
    run(replayer, inst, stop, completed(0, 1))
    assert calls == ["X"]
    assert (inst.status, json.loads(inst.output or "null")) == ("Terminated", "enough")


def test_unsupported_action_fails_the_instance_naming_it() -> None:
    async def call(name: str, ctx: str) -> str:
        action = {"actionType": 8, "httpRequest": {"method": "GET", "uri": "http://x"}}
        return json.dumps({"isDone": False, "actions": [[action]], "schemaVersion": 1})

    inst = running("X")
    run(make_replayer(call), inst, started(inst))
    assert inst.status == "Failed"
    assert "call_http" in (inst.output or "")


@pytest.mark.parametrize("reply", ["not json", "[1, 2]"])
def test_garbage_reply_never_raises(reply: str) -> None:
    async def call(name: str, ctx: str) -> str:
        return reply

    inst = running("X")
    run(make_replayer(call), inst, started(inst))
    assert inst.status in ("Running", "Failed")  # never an exception out of replay


def test_context_carries_history_as_played_and_input_as_json_text() -> None:
    seen: list[dict[str, Any]] = []

    async def call(name: str, ctx: str) -> str:
        seen.append(json.loads(ctx))
        return json.dumps({"isDone": False, "actions": [], "schemaVersion": 1})

    inst = running("X", {"a": 1})
    clock = FixedClock()
    replayer = make_replayer(call, clock)
    run(replayer, inst, started(inst))
    clock.advance(1.5)
    run(replayer, inst, event(EventType.EventRaised, Name="e", Input="1"))
    second = seen[1]
    assert second["input"] == '{"a": 1}'
    assert second["upperSchemaVersion"] == 1 and second["upperSchemaVersionNew"] == 2
    played = [e["IsPlayed"] for e in second["history"]]
    # episode 1 (OrchestratorStarted, ExecutionStarted, OrchestratorCompleted) replays as played
    assert played[:3] == [True] * 3 and played[3:] == [False, False]
    # each episode's OrchestratorStarted carries the injected clock's time, in .NET's UTC form
    starts = [e for e in second["history"] if e["EventType"] == EventType.OrchestratorStarted]
    assert [e["Timestamp"] for e in starts] == [
        "2026-01-02T03:04:05.678000Z",
        "2026-01-02T03:04:07.178000Z",
    ]


def long_wait(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(days=10))
    return "late"


def test_long_timer_is_split_into_three_day_timers_as_on_azure_storage() -> None:
    # OrchestrationTriggerAttributeBindingProvider.cs L229-240 sends maximumShortTimerDuration
    # (AzureStorageDurabilityProvider.cs L68: 6 days) and longRunningTimerIntervalDuration
    # (L70: 3 days); the SDK then schedules a 10-day wait as 3-day timers.
    replayer = make_replayer(sdk_call({"LongWait": long_wait}))
    inst = running("LongWait")
    cp = run(replayer, inst, started(inst))
    [(msg, delay)] = task_messages(cp)
    assert msg.event["FireAt"] == iso(T0 + timedelta(days=3))
    assert delay == timedelta(days=3).total_seconds()


def test_activity_failure_reason_carries_the_exception_type() -> None:
    # azure-functions-python-worker dispatcher.py _serialize_exception: "{type}: {message}";
    # TaskActivityShim.cs L100-124: "Activity function '{name}' failed: {that message}".
    exc = FunctionInvocationError("Flaky", "flaky failure 2", "ValueError")
    assert (
        failure_reason("Flaky", exc)
        == "Activity function 'Flaky' failed: ValueError: flaky failure 2"
    )
