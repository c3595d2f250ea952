"""Session admission, message by message, without storage: what the control-queue dispatcher
applies, drops, defers or re-sends. Mirrors DurableTask.AzureStorage's OrchestrationSession
rules: duplicates dropped by message id and by completion id, messages for another execution
dropped, events held back while the instance is Pending or Suspended, early timers re-sent.

And the session buffer (OrchestrationSessionManager.cs AddMessageToPendingOrchestration /
GetNextSessionAsync / TryReleaseSession, ControlQueue.cs GetMessagesAsync, MessageCollection.cs
AddOrReplace): an episode takes everything buffered for its instance; what arrives while it
runs waits for the next; receiving stops at ControlQueueBufferThreshold messages in memory."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from azure.storage.queue import QueueMessage

from devhost.durabletask.azurestorage.messagedata import task_message, to_body
from devhost.durabletask.azurestorage.sessions import (
    CONTROL_QUEUE_BUFFER_THRESHOLD,
    Admission,
    SessionManager,
    Verdict,
)
from devhost.durabletask.azurestorage.storage import Received
from devhost.durabletask.model.history import EventType, event, iso
from devhost.durabletask.model.messages import TaskMessage
from devhost.durabletask.model.state import Instance
from tests.devhost.durable.replaykit import T0, completed, running

NOW = T0


def msg(inst: Instance, ev: dict[str, object], mid: str = "m1") -> TaskMessage:
    return TaskMessage(inst.instance_id, inst.execution_id, dict(ev), mid)


def test_execution_started_applies_once_for_a_pending_instance() -> None:
    inst = Instance("i", "X", "exec-1")
    adm = Admission(inst)
    start = msg(inst, event(EventType.ExecutionStarted, Name="X"), "s1")
    assert adm.admit(start, NOW) is Verdict.APPLY
    assert adm.status == "Running"
    assert inst.status == "Pending"  # admission changes nothing but its own memory
    assert adm.admit(start, NOW) is Verdict.DROP  # same message again
    assert adm.admit(msg(inst, event(EventType.ExecutionStarted), "s2"), NOW) is Verdict.DROP


def test_start_for_another_execution_is_dropped() -> None:
    inst = Instance("i", "X", "exec-2")
    stale = TaskMessage("i", "exec-1", event(EventType.ExecutionStarted), "s1")
    assert Admission(inst).admit(stale, NOW) is Verdict.DROP


def test_events_before_the_start_are_deferred() -> None:
    inst = Instance("i", "X", "exec-1")  # Pending
    assert Admission(inst).admit(msg(inst, completed(0, 1)), NOW) is Verdict.DEFER


def test_duplicate_completion_is_dropped_by_task_id() -> None:
    inst = running("X")
    inst.history = [event(EventType.TaskScheduled, 0, Name="A")]  # scheduled: in order
    adm = Admission(inst)
    assert adm.admit(msg(inst, completed(0, 1), "a"), NOW) is Verdict.APPLY
    assert adm.admit(msg(inst, completed(0, 1), "b"), NOW) is Verdict.DROP  # activity ran twice


def test_completion_already_in_history_is_dropped() -> None:
    inst = running("X")
    inst.history = [completed(3, "x")]
    assert Admission(inst).admit(msg(inst, completed(3, "x"), "new"), NOW) is Verdict.DROP


def test_message_for_an_old_execution_is_dropped() -> None:
    inst = running("X")
    old = TaskMessage(inst.instance_id, "exec-0", completed(0, 1), "m")
    assert Admission(inst).admit(old, NOW) is Verdict.DROP


def test_finished_or_unknown_instance_drops_everything() -> None:
    inst = running("X")
    inst.status = "Completed"
    assert Admission(inst).admit(msg(inst, completed(0, 1)), NOW) is Verdict.DROP
    assert Admission(None).admit(msg(inst, completed(0, 1)), NOW) is Verdict.DROP


def test_suspended_instance_defers_events_until_resumed_but_takes_terminate() -> None:
    inst = running("X")
    inst.history = [event(EventType.TaskScheduled, 0, Name="A")]  # scheduled: in order
    adm = Admission(inst)
    assert adm.admit(msg(inst, event(EventType.ExecutionSuspended), "s"), NOW) is Verdict.APPLY
    assert adm.status == "Suspended"
    assert adm.admit(msg(inst, completed(0, 1), "c"), NOW) is Verdict.DEFER
    assert adm.admit(msg(inst, event(EventType.ExecutionTerminated), "t"), NOW) is Verdict.APPLY
    assert adm.admit(msg(inst, event(EventType.ExecutionResumed), "r"), NOW) is Verdict.APPLY
    assert adm.status == "Running"
    assert inst.status == "Running"  # unchanged: the executor applies the admitted events
    assert adm.admit(msg(inst, completed(0, 1), "c"), NOW) is Verdict.APPLY


def test_timer_that_surfaces_early_is_resent() -> None:
    inst = running("X")
    inst.history = [event(EventType.TimerCreated, 0)]  # the timer is in history
    due = NOW + timedelta(seconds=40)
    early = msg(inst, event(EventType.TimerFired, TimerId=0, FireAt=iso(due)))
    assert Admission(inst).admit(early, NOW) is Verdict.EARLY
    assert Admission(inst).admit(early, now=due + timedelta(seconds=1)) is Verdict.APPLY


def test_malformed_messages_are_dropped() -> None:
    inst = running("X")
    assert Admission(inst).admit(None, NOW) is Verdict.DROP
    assert task_message({"id": "x", "instanceId": "i", "event": "nope"}) is None
    bad_kind = TaskMessage("i", None, {"EventType": 99}, "m")
    assert Admission(inst).admit(bad_kind, NOW) is Verdict.DROP


def test_a_completion_before_its_scheduling_event_waits_for_it() -> None:
    # DurableTask.AzureStorage OrchestrationSession.IsOutOfOrderMessage: found by the repeated
    # SIGKILL test (a re-run StoreMetadata answered before the replay scheduled it again, was
    # applied, and the real completion was then dropped as a duplicate: the instance hung).
    inst = running("X")
    inst.history = [event(EventType.TaskScheduled, 0, Name="A")]
    adm = Admission(inst)
    assert adm.admit(msg(inst, completed(1, "early"), "e"), NOW) is Verdict.DEFER
    assert adm.admit(msg(inst, completed(0, "ok"), "o"), NOW) is Verdict.APPLY
    fired = event(EventType.TimerFired, TimerId=5, FireAt=iso(NOW))
    assert adm.admit(msg(inst, fired, "t"), NOW) is Verdict.DEFER


# --- the session buffer -----------------------------------------------------------------------
def received(instance_id: str, mid: str, receipt: str = "r1") -> Received:
    """A control-queue message as a receive returns it (its queue id and pop receipt)."""
    message_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{instance_id}/{mid}").hex
    body = to_body(TaskMessage(instance_id, "exec-1", completed(0, 1), message_id))
    qm = QueueMessage(content=json.dumps(body))
    qm.id, qm.pop_receipt = mid, receipt
    return Received("hub-control-00", qm, body)


def ids(batch: object) -> list[str]:
    return [r.message.id for r in batch.received]  # type: ignore[attr-defined]


def test_an_episode_takes_every_message_buffered_for_its_instance() -> None:
    sm = SessionManager()
    sm.add([received("a", "1"), received("b", "2")])
    sm.add([received("a", "3")])  # a second receive: same batch for "a"
    first = sm.take()
    assert first is not None and (first.instance_id, ids(first)) == ("a", ["1", "3"])
    second = sm.take()
    assert second is not None and (second.instance_id, ids(second)) == ("b", ["2"])
    assert sm.take() is None


def test_messages_arriving_during_an_episode_wait_for_the_next_one() -> None:
    sm = SessionManager(pacing=0.0)  # the pacing has its own tests below
    sm.add([received("a", "1")])
    running_batch = sm.take()
    assert running_batch is not None
    sm.add([received("a", "2"), received("a", "3")])
    assert sm.take() is None  # "a" is busy: no second episode beside the first
    sm.release("a", running_batch.received)
    nxt = sm.take()
    assert nxt is not None and ids(nxt) == ["2", "3"]


def test_a_message_received_again_replaces_its_older_copy() -> None:
    sm = SessionManager()
    sm.add([received("a", "1", "old"), received("a", "2")])
    sm.add([received("a", "1", "new")])  # its visibility ran out while it waited
    batch = sm.take()
    assert batch is not None and ids(batch) == ["1", "2"]
    assert batch.received[0].message.pop_receipt == "new"
    assert sm.buffered() == 2


def test_receiving_stops_at_the_buffer_threshold_until_an_episode_settles() -> None:
    assert CONTROL_QUEUE_BUFFER_THRESHOLD == 256  # AzureStorageOptions' default
    sm = SessionManager(buffer_threshold=4)
    sm.add([received("a", str(i)) for i in range(3)])
    assert sm.has_room()
    sm.add([received("b", "x"), received("b", "y")])  # one receive may overshoot
    assert not sm.has_room() and sm.buffered() == 5
    batch = sm.take()
    assert batch is not None
    assert not sm.has_room()  # still in memory while its episode runs
    sm.release("a", batch.received)
    assert sm.has_room() and sm.buffered() == 2


class Ticks:
    """An injected monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fanned_out(sm: SessionManager, instance_id: str, tasks: int) -> None:
    """The instance as its last checkpoint left it in this process: `tasks` activities open."""
    inst = running("X")
    inst.instance_id = instance_id
    inst.history = [event(EventType.TaskScheduled, n, Name="A") for n in range(tasks)]
    sm.keep(inst)


def test_messages_that_arrived_during_an_episode_wait_as_long_as_it_took() -> None:
    ticks = Ticks()
    sm = SessionManager(pacing=1.0, monotonic=ticks)
    sm.add([received("a", "1")])
    first = sm.take()
    assert first is not None  # an instance's first episode is not held
    fanned_out(sm, "a", 10)
    sm.add([received("a", "2"), received("a", "2b")])  # arrive while the episode runs
    ticks.now += 3.0  # the episode took 3 s (the real provider's history read grows alike)
    sm.release("a", first.received)
    sm.add([received("b", "x")])  # another instance is not held back
    nxt = sm.take()
    assert nxt is not None and nxt.instance_id == "b"
    ticks.now += 2.9
    assert sm.take() is None  # "a" still waits
    sm.add([received("a", "3")])  # and keeps collecting
    ticks.now += 0.1
    held = sm.take()
    assert held is not None and ids(held) == ["2", "2b", "3"]


def test_the_pace_counts_the_replay_not_the_checkpoint() -> None:
    """The pace stands for the history read before the next episode (DurableTask.AzureStorage
    OrchestrationSessionManager.ScheduleOrchestrationStatePrefetch), which grows with the history
    as the replay does; a checkpoint that sends a fan-out's 1,000 work items does not."""
    ticks = Ticks()
    sm = SessionManager(pacing=1.0, monotonic=ticks)
    sm.add([received("a", "1")])
    first = sm.take()
    assert first is not None
    ticks.now += 0.5  # load + replay
    sm.executed("a")
    fanned_out(sm, "a", 1000)
    sm.add([received("a", "2"), received("a", "3")])
    ticks.now += 4.0  # the checkpoint's sends
    sm.release("a", first.received)
    ticks.now += 0.4
    assert sm.take() is None
    ticks.now += 0.1
    nxt = sm.take()
    assert nxt is not None and ids(nxt) == ["2", "3"]


def test_a_batch_begun_after_the_release_waits_and_keeps_filling() -> None:
    """A fan-in whose buffer was full: nothing arrives during the episode (the receive loop
    stops at ControlQueueBufferThreshold, ControlQueue.GetMessagesAsync), the first receive after
    the release begins the batch. Held from there, it fills while it waits instead of going out
    with one receive's 32 (a 5,000-wide fan-in alternated episodes of 256 and 32)."""
    ticks = Ticks()
    sm = SessionManager(pacing=1.0, monotonic=ticks)
    sm.add([received("a", "1")])
    first = sm.take()
    assert first is not None
    ticks.now += 1.0  # load + replay
    sm.executed("a")
    fanned_out(sm, "a", 5000)
    ticks.now += 5.0  # the checkpoint
    sm.release("a", first.received)
    ticks.now += 3.0  # idle meanwhile: the wait counts from the batch's first message
    sm.add([received("a", "2")])
    ticks.now += 0.5
    sm.add([received("a", "3"), received("a", "4")])
    assert sm.take() is None
    ticks.now += 0.5
    nxt = sm.take()
    assert nxt is not None and ids(nxt) == ["2", "3", "4"]


def test_a_batch_that_cannot_grow_goes_at_once() -> None:
    """The wait only lets more messages join; a chain's next step (one task open) and the
    last completions of a fan-in (as many as the tasks open) have nothing left to wait for, and
    neither has an instance this process holds no state for."""
    ticks = Ticks()
    sm = SessionManager(pacing=1.0, monotonic=ticks)
    for instance_id, open_tasks, arriving in (("chain", 1, ["2"]), ("tail", 3, ["7", "8", "9"])):
        sm.add([received(instance_id, "1")])
        first = sm.take()
        assert first is not None
        fanned_out(sm, instance_id, open_tasks)
        ticks.now += 3.0
        sm.release(instance_id, first.received)
        sm.add([received(instance_id, m) for m in arriving[:-1]])
        if arriving[:-1]:
            assert sm.take() is None  # two of three: more can come
        sm.add([received(instance_id, arriving[-1])])
        nxt = sm.take()
        assert nxt is not None and ids(nxt) == arriving
    sm.add([received("stateless", "1")])
    first = sm.take()
    assert first is not None
    ticks.now += 3.0
    sm.release("stateless", first.received)
    sm.add([received("stateless", "2")])
    nxt = sm.take()
    assert nxt is not None and ids(nxt) == ["2"]


def test_a_held_batch_goes_when_the_buffer_is_full() -> None:
    """Nothing can join it before its wait ends (the receive loop stops at the threshold), so
    it goes with what the real batch would hold when its history read ended."""
    ticks = Ticks()
    sm = SessionManager(buffer_threshold=4, pacing=1.0, monotonic=ticks)
    sm.add([received("a", "1")])
    first = sm.take()
    assert first is not None
    fanned_out(sm, "a", 100)
    ticks.now += 10.0
    sm.release("a", first.received)
    sm.add([received("a", "2"), received("a", "3")])
    assert sm.take() is None
    sm.add([received("a", "4"), received("b", "x")])  # 4 buffered: full
    assert not sm.has_room()
    nxt = sm.take()
    assert nxt is not None and ids(nxt) == ["2", "3", "4"]


def test_a_forgotten_instance_is_not_held() -> None:
    """A finished or abandoned episode forgets the instance before its release: whatever
    arrives for it next is admitted (and dropped or retried) at once."""
    ticks = Ticks()
    sm = SessionManager(pacing=1.0, monotonic=ticks)
    sm.add([received("a", "1")])
    first = sm.take()
    assert first is not None
    fanned_out(sm, "a", 10)
    ticks.now += 2.0
    sm.forget("a")
    sm.release("a", first.received)
    sm.add([received("a", "2")])
    nxt = sm.take()
    assert nxt is not None and ids(nxt) == ["2"]
