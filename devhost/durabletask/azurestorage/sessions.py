"""Orchestration sessions (DurableTask.AzureStorage's `OrchestrationSessionManager`).

A control-queue receive returns messages for many instances; they are grouped per instance and
each group is admitted against the instance's state: applied, dropped (duplicate, stale,
for a finished instance), deferred (arrived before the instance can take it) or re-sent
(a timer that surfaced before it is due). `admit` changes nothing but the admission's own memory
(message ids, completions and the status the admitted lifecycle events lead to); the executor
applies those events to the state. It is unit-tested without storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from enum import Enum

from devhost.durabletask.azurestorage.messagedata import instance_of
from devhost.durabletask.azurestorage.storage import Received
from devhost.durabletask.model.history import Event, EventType, parse_iso
from devhost.durabletask.model.messages import TaskMessage
from devhost.durabletask.model.state import Instance, completion_key
from devhost.durabletask.model.status import TERMINAL, RuntimeStatus


class Verdict(Enum):
    APPLY = "apply"  # a new event for the current execution
    DROP = "drop"  # delete it: duplicate, stale, malformed or for a finished instance
    DEFER = "defer"  # leave it on the queue for a later receive
    EARLY = "early"  # a timer that is not due yet: re-send with the remaining delay


class Admission:
    """Admits one instance's messages in arrival order, remembering what it has seen."""

    def __init__(self, inst: Instance | None) -> None:
        self.inst = inst
        self.status = inst.status if inst else None
        self.seen = message_ids(inst.history) if inst else set()
        self.completed = inst.completed_keys() if inst else set()

    def admit(self, msg: TaskMessage | None, now: datetime) -> Verdict:  # noqa: PLR0911, PLR0912
        inst = self.inst
        if msg is None or msg.id in self.seen:
            return Verdict.DROP
        ev = msg.event
        try:
            kind = EventType(ev["EventType"])
        except ValueError:
            return Verdict.DROP
        fire_at = ev.get("FireAt") if kind is EventType.TimerFired else None
        if fire_at and parse_iso(str(fire_at)) > now:
            return Verdict.EARLY
        if kind is EventType.ExecutionStarted:
            if (
                inst is not None
                and inst.execution_id == msg.execution_id
                and self.status == RuntimeStatus.Pending
            ):
                self.status = RuntimeStatus.Running
                self.seen.add(msg.id)
                return Verdict.APPLY
            return Verdict.DROP
        if inst is None or self.status in TERMINAL:
            return Verdict.DROP
        if self.status == RuntimeStatus.Pending:
            return Verdict.DEFER  # arrived before its ExecutionStarted
        if msg.execution_id and msg.execution_id != inst.execution_id:
            return Verdict.DROP  # for an execution that no longer exists
        key = completion_key(ev)
        if key is not None and key in self.completed:
            return Verdict.DROP  # duplicate completion (an activity ran twice)
        if key is not None and inst.scheduled(key[1]) is None:
            # Out of order (DurableTask.AzureStorage OrchestrationSession.IsOutOfOrderMessage):
            # a completion whose scheduling event is not in history yet. Messages go out before
            # the history is written, so after a crash in between a re-run activity can answer
            # before the replay schedules it again; applied now, the SDK would ignore it and
            # then drop the real completion as a duplicate. It waits for the history instead.
            return Verdict.DEFER
        if kind is EventType.ExecutionSuspended:
            self.status = RuntimeStatus.Suspended
        elif kind is EventType.ExecutionResumed:
            self.status = RuntimeStatus.Running
        elif self.status == RuntimeStatus.Suspended and kind is not EventType.ExecutionTerminated:
            return Verdict.DEFER
        if key is not None:
            self.completed.add(key)
        self.seen.add(msg.id)
        return Verdict.APPLY


def message_ids(history: Iterable[Event]) -> set[str | None]:
    """Messages this execution has taken: each admitted event's, plus those a ContinueAsNew's
    work item took for the execution it replaced (a redelivery after a crash is a duplicate)."""
    seen: set[str | None] = set()
    for e in history:
        seen.add(e.get("MessageId"))
        seen.update(str(e.get("Consumed") or "").split(",") if "Consumed" in e else ())
    return seen


def group_by_instance(received: Iterable[Received]) -> dict[str, list[Received]]:
    """Messages of one receive, per instance, in arrival order."""
    groups: dict[str, list[Received]] = {}
    for rec in received:
        groups.setdefault(instance_of(rec.body), []).append(rec)
    return groups


class SessionManager:
    """One lock and one cached state per instance: episodes of an instance never overlap, and
    the process that ran the last episode needs no reads for the next."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._cache: dict[str, Instance] = {}

    def lock(self, instance_id: str) -> asyncio.Lock:
        found = self._locks.get(instance_id)
        if found is None:
            found = self._locks[instance_id] = asyncio.Lock()
        return found

    def cached(self, instance_id: str) -> Instance | None:
        return self._cache.get(instance_id)

    def keep(self, inst: Instance) -> None:
        self._cache[inst.instance_id] = inst

    def forget(self, instance_id: str) -> None:
        self._cache.pop(instance_id, None)
