"""Session admission, message by message, without storage: what the control-queue dispatcher
applies, drops, defers or re-sends. Mirrors DurableTask.AzureStorage's OrchestrationSession
rules: duplicates dropped by message id and by completion id, messages for another execution
dropped, events held back while the instance is Pending or Suspended, early timers re-sent."""

from __future__ import annotations

from datetime import timedelta

from devhost.durabletask.azurestorage.messagedata import task_message
from devhost.durabletask.azurestorage.sessions import Admission, Verdict
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
