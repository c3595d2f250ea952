"""The dispatchers, the checkpoint order, crash repair and the duplicate rules, on the in-memory
task hub (devhost.durabletask.memory): the AzureStorage provider's own service and client logic
over in-memory tables and queues, with an injected clock and a crash at any write.

Rules pinned here and where they come from:
- checkpoint order (messages, then history rows, then the instance row, then the deletes):
  DurableTask.AzureStorage AzureStorageOrchestrationService.CompleteTaskOrchestrationWorkItemAsync
  (outbound messages first; the tracking store update; then DeleteMessageAsync per message);
- the crash repairs in TaskHubService.load: AzureTableTrackingStore's sentinel row and
  OrchestrationSession's replay of undeleted messages;
- duplicates dropped by message id / task id: OrchestrationSessionManager + the executor's
  completion de-duplication in DurableTask.Core (TaskOrchestrationDispatcher's IsDuplicate);
- abandon back-off 2^DequeueCount s up to 10 min: TaskHubQueue.AbandonMessageAsync;
- an episode takes every message buffered for its instance, at most ControlQueueBufferThreshold
  (256) in memory, received ControlQueueBatchSize (32) at a time: OrchestrationSessionManager's
  AddMessageToPendingOrchestration / GetNextSessionAsync and ControlQueue.GetMessagesAsync.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections import Counter
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.durabletask.memory import Crash, FaultPlan, MemoryTaskHub
from devhost.durabletask.model.errors import (
    ArgumentError,
    InvalidOperation,
    OrchestrationConflict,
    UnknownOrchestrator,
)
from devhost.durabletask.model.history import EventType, event, iso
from devhost.durabletask.model.messages import Outgoing, TaskMessage
from tests.devhost.durable.replaykit import T0, FixedClock, MemoryRunner, id_factory


def chain(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield ctx.call_activity("Upper", ctx.get_input())
    b = yield ctx.call_activity("Exclaim", a)
    return b


def fan_out(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    width = ctx.get_input()
    results = yield ctx.task_all([ctx.call_activity("Square", n) for n in range(width)])
    return sum(results)


def sleeper(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=90))
    return "woke"


def waiter(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield ctx.wait_for_external_event("Go"))


def accumulate(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    value = yield ctx.wait_for_external_event("add")
    ctx.continue_as_new(ctx.get_input() + value)


ORCHESTRATORS = {
    "Chain": chain,
    "FanOut": fan_out,
    "Sleeper": sleeper,
    "Waiter": waiter,
    "Accumulate": accumulate,
}
ACTIVITIES = {
    "Upper": lambda s: str(s).upper(),
    "Exclaim": lambda s: f"{s}!",
    "Square": lambda n: n * n,
}


def make_hub(
    faults: FaultPlan | None = None, **buffer: int
) -> tuple[MemoryTaskHub, FixedClock, MemoryRunner]:
    clock = FixedClock()
    runner = MemoryRunner(ORCHESTRATORS, ACTIVITIES)
    hub = MemoryTaskHub(runner, clock=clock, new_id=id_factory(), faults=faults, **buffer)
    return hub, clock, runner


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def history_kinds(hub: MemoryTaskHub, instance_id: str) -> list[str]:
    _, events = await hub.tracking.read_history(instance_id)
    return [EventType(e["EventType"]).name for e in events]


async def start_and_finish(hub: MemoryTaskHub, name: str, value: Any, iid: str = "i1") -> None:
    await hub.client.start_new(name, iid, json.dumps(value))
    await hub.run_until_idle()


def test_chain_completes_through_the_dispatchers() -> None:
    hub, _, runner = make_hub()
    run(start_and_finish(hub, "Chain", "tokyo"))
    inst = run(hub.client.read("i1", history=True))
    assert (inst.status, json.loads(inst.output)) == ("Completed", "TOKYO!")
    assert runner.runs == ["Upper", "Exclaim"]
    assert hub.queues.pending() == 0  # every message consumed and deleted
    assert [i.instance_id for i in hub.finished] == ["i1"]
    assert run(history_kinds(hub, "i1")) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "OrchestratorCompleted", "ExecutionCompleted",
    ]  # fmt: skip


def test_checkpoint_order_is_messages_then_history_then_row_then_deletes() -> None:
    faults = FaultPlan()
    hub, _, _ = make_hub(faults)
    run(hub.client.start_new("Chain", "i1", '"x"'))
    faults.log.clear()
    run(hub.step())  # the first episode only (its work item is sent, not yet run)
    episode = faults.log[: faults.log.index("delete") + 1]
    assert episode == ["send", "append_history", "update_instance", "delete"]


def clean_write_count() -> int:
    """Writes the dispatchers make for one chain after its start (each a crash point)."""
    faults = FaultPlan()
    hub, _, _ = make_hub(faults)
    run(hub.client.start_new("Chain", "i1", '"tokyo"'))
    faults.log.clear()
    run(hub.run_until_idle())
    return len(faults.log)


async def recover(hub: MemoryTaskHub, clock: FixedClock) -> None:
    """A new process after the crash: caches gone; hidden messages reappear when their
    visibility (or back-off) runs out."""
    hub.faults.at = None
    hub.restart()
    for _ in range(12):
        clock.advance(61)
        await hub.client.service.recover_pending(older_than=30)
        await hub.run_until_idle()


@pytest.mark.parametrize("crash_at", range(1, clean_write_count() + 1))
def test_a_crash_at_any_write_still_ends_with_one_correct_result(crash_at: int) -> None:
    faults = FaultPlan()
    hub, clock, runner = make_hub(faults)
    run(hub.client.start_new("Chain", "i1", '"tokyo"'))
    faults.log.clear()
    faults.at = crash_at
    with pytest.raises(Crash):
        run(hub.run_until_idle())
    run(recover(hub, clock))
    inst = run(hub.client.read("i1", history=True))
    assert inst is not None
    assert (inst.status, json.loads(inst.output)) == ("Completed", "TOKYO!")
    kinds = run(history_kinds(hub, "i1"))
    assert kinds.count("ExecutionStarted") == 1
    assert kinds.count("ExecutionCompleted") == 1
    assert kinds.count("TaskCompleted") == 2  # a re-run activity's completion is dropped
    assert set(runner.runs) == {"Upper", "Exclaim"}  # at least once each, maybe twice
    assert hub.queues.pending() == 0


def add(hub: MemoryTaskHub, value: int) -> None:
    run(hub.client.send_event("acc", event(EventType.EventRaised, Name="add", Input=str(value))))


def test_continue_as_new_replaces_the_execution_in_storage() -> None:
    # The dispatcher runs the next execution in the same work item and AzureTableTrackingStore
    # writes only its state: the row's ExecutionId, Input and CreatedTime (UpdateStateAsync
    # L1040-1060) and history rows from 0 with the new ExecutionId; status never shows
    # ContinuedAsNew or Pending to a reader between checkpoints.
    hub, clock, _ = make_hub()
    run(start_and_finish(hub, "Accumulate", 0, "acc"))
    first = run(hub.client.read("acc")).execution_id
    clock.advance(7)
    add(hub, 5)
    run(hub.run_until_idle())
    inst = run(hub.client.read("acc", history=True))
    assert (inst.status, inst.input, inst.created) == ("Running", "5", clock.now)
    assert inst.execution_id != first
    execution, events = run(hub.tracking.read_history("acc"))
    assert execution == inst.execution_id
    assert [EventType(e["EventType"]).name for e in events] == [
        "OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted",
    ]  # fmt: skip
    add(hub, 2)
    run(hub.run_until_idle())
    assert run(hub.client.read("acc")).input == "7"
    assert hub.queues.pending() == 0


def can_write_count() -> int:
    faults = FaultPlan()
    hub, _, _ = make_hub(faults)
    run(start_and_finish(hub, "Accumulate", 0, "acc"))
    faults.log.clear()
    add(hub, 5)
    run(hub.run_until_idle())
    return len(faults.log)


@pytest.mark.parametrize("crash_at", range(1, can_write_count() + 1))
def test_a_crash_at_any_write_of_a_continue_as_new_recovers(crash_at: int) -> None:
    faults = FaultPlan()
    hub, clock, _ = make_hub(faults)
    run(start_and_finish(hub, "Accumulate", 0, "acc"))
    faults.log.clear()
    faults.at = crash_at
    with pytest.raises(Crash):
        add(hub, 5)
        run(hub.run_until_idle())
    run(recover(hub, clock))
    inst = run(hub.client.read("acc", history=True))
    if inst.input == "0":  # the event itself was lost with the crash (the send died)
        assert crash_at == 1 and inst.status == "Running"
        return
    assert (inst.status, inst.input) == ("Running", "5")
    assert [EventType(e["EventType"]).name for e in inst.history] == [
        "OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted",
    ]  # fmt: skip
    assert hub.queues.pending() == 0


def test_duplicate_completion_is_dropped_by_task_id() -> None:
    hub, _, _ = make_hub()
    run(hub.client.start_new("Waiter", "w", None))
    run(hub.run_until_idle())
    go = event(EventType.EventRaised, Name="Go", Input='"yes"')
    for _ in range(2):  # the same event raised twice: the orchestration takes the first
        run(hub.client.send_event("w", dict(go)))
    run(hub.run_until_idle())
    inst = run(hub.client.read("w"))
    assert (inst.status, inst.output) == ("Completed", '"yes"')
    # a TaskCompleted for a task that already completed (an activity that ran twice)
    hub2, _, _ = make_hub()
    run(start_and_finish(hub2, "Chain", "a"))
    state = run(hub2.client.read("i1", history=True))
    dup = event(EventType.TaskCompleted, TaskScheduledId=0, Result='"A"')
    run(hub2.queues.send(Outgoing(TaskMessage("i1", state.execution_id, dup))))
    run(hub2.run_until_idle())
    assert run(history_kinds(hub2, "i1")).count("TaskCompleted") == 2


def test_event_before_the_start_is_deferred_then_applied() -> None:
    hub, _, _ = make_hub()
    run(hub.client.start_new("Waiter", "w", None))
    # raised while the instance is still Pending: its ExecutionStarted has not been processed
    row_exec = run(hub.client.read("w")).execution_id
    early = TaskMessage("w", row_exec, event(EventType.EventRaised, Name="Go", Input="1"))
    start_queue = hub.queues.control_for("w")
    stored = hub.queues.queues[start_queue]
    run(hub.queues.send(Outgoing(early)))
    stored.insert(0, stored.pop())  # arrives ahead of ExecutionStarted
    run(hub.step())
    assert run(hub.client.read("w")).status == "Running"
    for _ in range(3):
        hub.clock.advance(2)  # type: ignore[attr-defined]
        run(hub.run_until_idle())
    assert run(hub.client.read("w")).output == "1"


def test_timer_fires_at_its_due_time_on_the_injected_clock() -> None:
    hub, clock, _ = make_hub()
    run(start_and_finish(hub, "Sleeper", None, "s"))
    assert run(hub.client.read("s")).status == "Running"
    clock.advance(89)
    run(hub.run_until_idle())
    assert run(hub.client.read("s")).status == "Running"
    clock.advance(1)
    run(hub.run_until_idle())
    inst = run(hub.client.read("s", history=True))
    assert (inst.status, inst.output) == ("Completed", '"woke"')
    fired = [e for e in inst.history if e["EventType"] == EventType.TimerFired]
    assert [e["FireAt"] for e in fired] == [iso(T0 + timedelta(seconds=90))]


def test_storage_fault_abandons_with_exponential_back_off() -> None:
    class Flaky(FaultPlan):
        def write(self, point: str) -> None:
            if point == "update_instance":
                raise OSError("storage down")

    hub, clock, _ = make_hub(Flaky())
    run(hub.client.start_new("Chain", "i1", '"x"'))
    queue = hub.queues.control_for("i1")
    delays = []
    for _ in range(4):
        run(hub.step())
        start = hub.queues.queues[queue][0]  # the ExecutionStarted that keeps failing
        delays.append((start.visible_at - clock.now).total_seconds())
        clock.now = start.visible_at
    assert delays == [2, 4, 8, 16]  # TaskHubQueue.AbandonMessageAsync: 2^DequeueCount s


def test_fan_out_of_200_runs_each_activity_and_sums() -> None:
    hub, _, runner = make_hub()
    run(start_and_finish(hub, "FanOut", 200, "f"))
    inst = run(hub.client.read("f"))
    assert (inst.status, json.loads(inst.output)) == ("Completed", sum(n * n for n in range(200)))
    assert Counter(runner.runs) == {"Square": 200}


def test_fan_in_of_1000_takes_one_episode_per_buffer_of_256() -> None:
    """All 1,000 completions wait on the control queue (the activities ran while the
    orchestration was busy). The dequeue loop receives 32 at a time until 256 messages are in
    memory (ControlQueueBufferThreshold; 256 is a multiple of 32, so no receive overshoots);
    the instance's next episode takes all 256, and only its deletes make room for more. So the
    fan-in takes ceil(1000 / 256) = 4 episodes after the one that fanned out: 5 in all, where
    handing over one receive per episode took 1 + ceil(1000 / 32) = 33."""
    hub, _, runner = make_hub()
    run(hub.client.start_new("FanOut", "f", "1000"))
    run(hub.orchestrate())  # the start episode schedules 1,000 activities
    assert run(hub.run_activities()) == 1000
    run(hub.run_until_idle())
    inst = run(hub.client.read("f"))
    assert (inst.status, json.loads(inst.output)) == ("Completed", sum(n * n for n in range(1000)))
    assert Counter(runner.runs) == {"Square": 1000}
    assert hub.episodes == 1 + math.ceil(1000 / 256) == 5
    assert hub.episode_sizes == [1, 256, 256, 256, 232]


def test_fan_in_while_activities_trickle_in_stays_far_below_one_episode_per_completion() -> None:
    """The memory hub's own pacing (32 activities per round, then every ready episode): each
    episode takes whatever arrived since the last one, never more than the buffer holds."""
    hub, _, _ = make_hub()
    n = 400  # enough rounds of 32 to show the batching; each episode replays the whole history
    run(start_and_finish(hub, "FanOut", n, "f"))
    assert json.loads(run(hub.client.read("f")).output) == sum(k * k for k in range(n))
    assert sum(hub.episode_sizes) == n + 1  # every message went to exactly one episode
    assert max(hub.episode_sizes) <= 256
    assert hub.episodes <= 1 + math.ceil(n / 32)


BATCHED = {"buffer_threshold": 8, "control_batch": 4}  # so a fan-in of 12 takes 2 batches


async def batched_fan_in(hub: MemoryTaskHub) -> None:
    """FanOut(12): the start episode, all 12 activities, then the fan-in in batched episodes
    (two receives of 4 fill the buffer of 8; the last 4 come in a second episode)."""
    await hub.orchestrate()
    await hub.run_activities()
    await hub.run_until_idle()


def clean_batched_write_count() -> int:
    faults = FaultPlan()
    hub, _, _ = make_hub(faults, **BATCHED)
    run(hub.client.start_new("FanOut", "f", "12"))
    faults.log.clear()
    run(batched_fan_in(hub))
    assert hub.episode_sizes == [1, 8, 4]  # the batched path, not one receive per episode
    return len(faults.log)


@pytest.mark.parametrize("crash_at", range(1, clean_batched_write_count() + 1))
def test_a_crash_at_any_write_of_a_batched_fan_in_still_ends_with_one_result(
    crash_at: int,
) -> None:
    """The buffer lives in memory only: a crash loses it, and the messages it held come back
    from the queue when their visibility runs out, exactly as unbatched ones do."""
    faults = FaultPlan()
    hub, clock, runner = make_hub(faults, **BATCHED)
    run(hub.client.start_new("FanOut", "f", "12"))
    faults.log.clear()
    faults.at = crash_at
    with pytest.raises(Crash):
        run(batched_fan_in(hub))
    run(recover(hub, clock))
    inst = run(hub.client.read("f"))
    assert (inst.status, json.loads(inst.output)) == ("Completed", sum(n * n for n in range(12)))
    kinds = run(history_kinds(hub, "f"))
    assert kinds.count("ExecutionStarted") == 1
    assert kinds.count("ExecutionCompleted") == 1
    assert kinds.count("TaskScheduled") == 12
    assert kinds.count("TaskCompleted") == 12  # a re-run activity's completion is dropped
    assert set(Counter(runner.runs)) == {"Square"} and len(runner.runs) >= 12
    assert hub.queues.pending() == 0
    assert hub.sessions.buffered() == 0


# --- client operations (the extension's DurableClient checks over the service client) -------
def test_start_refuses_an_active_id_and_replaces_a_finished_one() -> None:
    hub, _, _ = make_hub()
    run(hub.client.start_new("Waiter", "w", None))
    with pytest.raises(OrchestrationConflict):
        run(hub.client.start_new("Waiter", "w", None))
    run(hub.client.start_new("Chain", "c", '"a"'))
    run(hub.run_until_idle())
    first = run(hub.client.read("c")).execution_id
    run(start_and_finish(hub, "Chain", "b", "c"))
    again = run(hub.client.read("c", history=True))
    assert again.execution_id != first and json.loads(again.output) == "B!"
    assert [e["EventType"] for e in again.history].count(EventType.ExecutionStarted) == 1


def test_names_resolve_case_insensitively_and_unknown_names_are_argument_errors() -> None:
    hub, _, _ = make_hub()
    run(hub.client.start_new("chain", "c", '"a"'))
    assert run(hub.client.read("c")).name == "Chain"
    with pytest.raises(UnknownOrchestrator):
        run(hub.client.start_new("Nope", None, None))
    with pytest.raises(ArgumentError):
        run(hub.client.start_new("Chain", "@bad", None))


def test_terminate_suspend_resume_follow_the_state_checks() -> None:
    hub, _, _ = make_hub()
    run(hub.client.start_new("Waiter", "w", None))
    run(hub.run_until_idle())
    with pytest.raises(InvalidOperation):
        run(hub.client.control("w", event(EventType.ExecutionResumed)))
    run(hub.client.control("w", event(EventType.ExecutionSuspended, Input='"pause"')))
    run(hub.run_until_idle())
    assert run(hub.client.read("w")).status == "Suspended"
    run(hub.client.send_event("w", event(EventType.EventRaised, Name="Go", Input="5")))
    run(hub.run_until_idle())
    assert run(hub.client.read("w")).status == "Suspended"  # the event waits
    run(hub.client.control("w", event(EventType.ExecutionResumed, Input='"go"')))
    for _ in range(3):
        hub.clock.advance(2)  # type: ignore[attr-defined]
        run(hub.run_until_idle())
    assert (run(hub.client.read("w")).status, run(hub.client.read("w")).output) == (
        "Completed",
        "5",
    )
    run(hub.client.start_new("Waiter", "t", None))
    run(hub.run_until_idle())
    run(hub.client.control("t", event(EventType.ExecutionTerminated, Input='"enough"')))
    run(hub.run_until_idle())
    assert run(hub.client.read("t")).status == "Terminated"
    with pytest.raises(InvalidOperation):
        run(hub.client.control("t", event(EventType.ExecutionTerminated)))


def test_restart_and_purge() -> None:
    hub, _, _ = make_hub()
    run(start_and_finish(hub, "Chain", "a", "c"))
    new_id = run(hub.client.restart("c"))
    assert new_id != "c"
    same = run(hub.client.restart("c", new_instance_id=False))
    assert same == "c"
    run(hub.run_until_idle())
    assert json.loads(run(hub.client.read(new_id)).output) == "A!"
    assert run(hub.client.purge("c")) == 1
    assert run(hub.client.read("c")) is None
    assert run(hub.tracking.read_history("c")) == (None, [])
    with pytest.raises(ArgumentError):
        run(hub.client.restart("c"))


def test_query_filters_by_status_and_created_time_and_pages() -> None:
    hub, clock, _ = make_hub()
    for n in range(5):
        clock.advance(10)
        run(hub.client.start_new("Chain" if n % 2 else "Waiter", f"q{n}", '"v"'))
    run(hub.run_until_idle())
    rows, token = run(hub.client.query("RuntimeStatus eq 'Completed'", 10, None))
    assert sorted(r["PartitionKey"] for r in rows) == ["q1", "q3"]
    since = iso(T0 + timedelta(seconds=25))
    rows, _ = run(hub.client.query(f"CreatedTime ge datetime'{since}'", 10, None))
    assert sorted(r["PartitionKey"] for r in rows) == ["q2", "q3", "q4"]
    first, token = run(hub.client.query(None, 2, None))
    rest, end = run(hub.client.query(None, 10, token))
    assert len(first) == 2 and len(rest) == 3 and end is None


def test_a_lost_start_message_is_sent_again_by_pending_recovery() -> None:
    faults = FaultPlan()
    hub, clock, _ = make_hub(faults)
    faults.at = 2  # insert_instance succeeds, the send of ExecutionStarted dies
    with pytest.raises(Crash):
        run(hub.client.start_new("Chain", "lost", '"z"'))
    assert run(hub.client.read("lost")).status == "Pending"
    faults.at = None
    hub.restart()
    clock.advance(31)
    run(hub.service_client.recover_pending(older_than=30))
    run(hub.run_until_idle())
    assert json.loads(run(hub.client.read("lost")).output) == "Z!"


# --- rewind (AzureTableTrackingStore.RewindHistoryAsync L282-411) ----------------------------
def flaky_chain(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield ctx.call_activity("Upper", ctx.get_input())
    return (yield ctx.call_activity("FailOnce", a))


def flaky_parent(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield ctx.call_sub_orchestrator("FlakyChain", ctx.get_input(), "kid"))


def fail_once() -> Any:
    failures: list[str] = []

    def activity(value: Any) -> Any:
        if not failures:
            failures.append(value)
            raise ValueError("not yet")
        return f"{value}!"

    return activity


def rewind_hub() -> tuple[MemoryTaskHub, MemoryRunner]:
    orchestrators = {"FlakyChain": flaky_chain, "FlakyParent": flaky_parent}
    runner = MemoryRunner(orchestrators, {**ACTIVITIES, "FailOnce": fail_once()})
    return MemoryTaskHub(runner, clock=FixedClock(), new_id=id_factory()), runner


def test_rewind_reruns_the_failed_activity_and_completes() -> None:
    # The TaskFailed, its TaskScheduled and the failed ExecutionCompleted become GenericEvent
    # ("Rewound: ..."), the row goes Pending, and a GenericEvent wakes the instance
    # (RewindTaskOrchestrationAsync L1882-1902); replay then schedules the activity again with
    # the same sequence number.
    hub, runner = rewind_hub()
    run(start_and_finish(hub, "FlakyChain", "a", "r"))
    assert run(hub.client.read("r")).status == "Failed"
    run(hub.client.rewind("r", "fixed"))
    assert run(hub.client.read("r")).status == "Pending"
    run(hub.run_until_idle())
    inst = run(hub.client.read("r", history=True))
    assert (inst.status, json.loads(inst.output)) == ("Completed", "A!")
    assert runner.runs == ["Upper", "FailOnce", "FailOnce"]
    generic = [e for e in inst.history if e["EventType"] == EventType.GenericEvent]
    assert [e.get("Reason") or e.get("Data") for e in generic] == [
        "Rewound: TaskScheduled", "Rewound: TaskFailed", "Rewound: ExecutionCompleted", "fixed",
    ]  # fmt: skip
    scheduled = [e["EventId"] for e in inst.history if e["EventType"] == EventType.TaskScheduled]
    assert scheduled == [0, 1]


def test_rewind_goes_down_to_the_failed_sub_orchestration() -> None:
    # L366-392: the parent's SubOrchestrationInstanceCreated is only marked, the child is
    # rewound in turn and is the failed leaf that gets the wake-up; its completion then
    # completes the parent.
    hub, _ = rewind_hub()
    run(start_and_finish(hub, "FlakyParent", "b", "p"))
    assert run(hub.client.read("p")).status == "Failed"
    run(hub.client.rewind("p", "fixed"))
    run(hub.run_until_idle())
    parent = run(hub.client.read("p", history=True))
    assert (parent.status, json.loads(parent.output)) == ("Completed", "B!")
    kind = EventType.SubOrchestrationInstanceCreated
    [created] = [e for e in parent.history if e["EventType"] == kind]
    assert created["Reason"] == "Rewound: SubOrchestrationInstanceCreated"
    assert run(hub.client.read("kid")).status == "Completed"


def shrinking(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """First execution: three activities; then continue-as-new into a one-activity execution."""
    n = ctx.get_input()
    for _ in range(3 if n == 0 else 1):
        yield ctx.call_activity("Square", n)
    if n == 0:
        ctx.continue_as_new(1)
        return None
    return "done"


def test_appends_after_a_shorter_continue_as_new_overwrite_the_old_executions_rows() -> None:
    # AzureTableTrackingStore writes a ContinueAsNew's history over the old execution's rows
    # from sequence number 0 and leaves the longer old history's tail behind (ignored: another
    # ExecutionId); later appends write history entities with InsertOrReplace, so they overwrite
    # that tail instead of failing with EntityAlreadyExists (found by the suspend/resume port
    # under load: the instance looped on the failed append).
    clock = FixedClock()
    runner = MemoryRunner({**ORCHESTRATORS, "Shrinking": shrinking}, ACTIVITIES)
    hub = MemoryTaskHub(runner, clock=clock, new_id=id_factory())
    run(hub.client.start_new("Shrinking", "s", "0"))
    run(hub.run_until_idle())
    inst = run(hub.client.read("s", history=True))
    assert (inst.status, inst.output) == ("Completed", '"done"')
    kinds = [EventType(e["EventType"]).name for e in inst.history]
    assert kinds.count("TaskScheduled") == 1 and kinds.count("ExecutionCompleted") == 1


def test_checkpoint_storage_operations_run_at_most_max_storage_concurrency_at_once() -> None:
    """AzureStorageOrchestrationServiceSettings.MaxStorageOperationConcurrency (25 x cores):
    CommitOutboundQueueMessages and the deletes are ParallelForEachAsync with that limit."""
    from devhost.durabletask.azurestorage.service import (  # noqa: PLC0415
        MAX_STORAGE_OPERATION_CONCURRENCY,
        for_each,
    )

    assert 25 * (os.cpu_count() or 1) == MAX_STORAGE_OPERATION_CONCURRENCY
    running, peak, done = 0, 0, []

    async def op(n: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        done.append(n)

    run(for_each(range(500), op, limit=7))
    assert (peak, sorted(done)) == (7, list(range(500)))


def test_checkpoint_storage_operations_start_no_more_workers_than_items() -> None:
    """A checkpoint usually sends or deletes one or two messages: ParallelForEachAsync's
    limit is a ceiling, not a worker count (devhost started 50 tasks for each call)."""
    from devhost.durabletask.azurestorage.service import for_each  # noqa: PLC0415

    seen: list[int] = []

    async def op(n: int) -> None:
        seen.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)

    for items in (0, 1, 3):
        seen.clear()
        run(for_each(range(items), op, limit=50))
        assert len(seen) == items and all(tasks <= 1 + items for tasks in seen), (items, seen)
