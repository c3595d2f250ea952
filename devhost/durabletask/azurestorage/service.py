"""The work-item side of DurableTask.AzureStorage's `AzureStorageOrchestrationService`.

The core's dispatchers ask for work and hand back results; everything about storage happens
here: receiving control-queue messages, locking an instance's session, loading its state (with
the repair of what a crash between checkpoint writes left), admitting messages, and the
checkpoint order that makes SIGKILL at any moment safe:

1. send the outgoing messages (activities, timers, sub-orchestration starts, parent completions),
2. start children,
3. write the new history rows (all of them, over the old execution's, when ContinueAsNew
   started a new one), then the instance row,
4. delete the consumed messages.

A crash before the deletes replays the same messages; duplicates are dropped by message id and
by task id, so only activities can run twice (at-least-once, as in Durable Functions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from devhost.durabletask.azurestorage.messagedata import activity_request, task_message
from devhost.durabletask.azurestorage.sessions import Admission, SessionManager, Verdict
from devhost.durabletask.azurestorage.storage import Queues, Received, Tracking
from devhost.durabletask.model.history import Event, EventType, iso, parse_iso
from devhost.durabletask.model.messages import Outgoing, TaskMessage, execution_started
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import ACTIVE, TERMINAL, RuntimeStatus
from devhost.durabletask.model.workitems import (
    ActivityWorkItem,
    Checkpoint,
    OrchestrationWorkItem,
    PendingBatch,
)

log = logging.getLogger("devhost.durable")

Clock = Callable[[], datetime]
T = TypeVar("T")

# AzureStorageOrchestrationServiceSettings.MaxStorageOperationConcurrency: the checkpoint's
# enqueues and deletes run ParallelForEachAsync with at most this many at once. Unbounded, a
# fan-out of 5,000 held 5,000 requests in flight (and their buffers) at its first checkpoint.
MAX_STORAGE_OPERATION_CONCURRENCY = 25 * (os.cpu_count() or 1)


async def for_each(
    items: Iterable[T],
    op: Callable[[T], Awaitable[object]],
    limit: int = MAX_STORAGE_OPERATION_CONCURRENCY,
) -> None:
    """ParallelForEachAsync: `op` over every item, at most `limit` at a time.

    No more workers than items: a checkpoint usually has one or two messages to send or
    delete, and fifty idle tasks per call were 6% of devhost's CPU in the queued pipeline."""
    todo = list(items)
    if len(todo) == 1:
        await op(todo[0])
        return
    pending = iter(todo)

    async def worker() -> None:
        for item in pending:
            await op(item)

    await asyncio.gather(*(worker() for _ in range(min(limit, len(todo)))))


@dataclass
class _Held:
    """What a locked orchestration work item must settle at completion."""

    done: list[Received] = field(default_factory=list)  # deleted at the end
    deferred: list[Received] = field(default_factory=list)  # hidden for a second
    early: list[Outgoing] = field(default_factory=list)  # timers re-sent for their remainder
    lock: asyncio.Lock | None = None
    batch: PendingBatch | None = None  # the session's messages, released at the end


class TaskHubService:
    def __init__(
        self,
        tracking: Tracking,
        queues: Queues,
        sessions: SessionManager,
        *,
        clock: Clock,
        control_visibility: int = 30,
        activity_visibility: int = 60,
    ) -> None:
        self.tracking = tracking
        self.queues = queues
        self.sessions = sessions
        self.clock = clock
        self.control_visibility = control_visibility
        self.activity_visibility = activity_visibility

    # --- orchestration work items -------------------------------------------------------
    def has_buffer_room(self) -> bool:
        return self.sessions.has_room()

    async def wait_for_buffer_room(self, timeout: float) -> None:
        await self.sessions.wait_for_room(timeout)

    async def fetch_orchestration_messages(self, queue: str, count: int) -> list[Received]:
        """One control-queue receive into the session buffer (ControlQueue.GetMessagesAsync +
        AddMessageToPendingOrchestration)."""
        recs = await self.queues.receive(queue, count, self.control_visibility)
        self.sessions.add(recs)
        return recs

    def take_orchestration_batch(self) -> PendingBatch | None:
        return self.sessions.take()

    async def next_orchestration_batch(self) -> PendingBatch:
        return await self.sessions.next_batch()

    async def lock_orchestration_work_item(self, batch: PendingBatch) -> OrchestrationWorkItem:
        """Take the instance's session lock, load its state and admit the messages."""
        lock = self.sessions.lock(batch.instance_id)
        await lock.acquire()
        held = _Held(lock=lock, batch=batch)
        try:
            inst = await self.load(batch.instance_id)
        except BaseException:
            lock.release()
            raise
        now = self.clock()
        admission = Admission(inst)
        new_events: list[Event] = []
        for rec in batch.received:
            msg = task_message(rec.body)
            verdict = admission.admit(msg, now)
            if verdict is Verdict.DEFER:
                held.deferred.append(rec)
                continue
            if verdict is Verdict.EARLY and msg is not None:
                # queue visibility is whole seconds (and capped): re-send for the remainder
                due = parse_iso(str(msg.event["FireAt"]))
                held.early.append(Outgoing(msg, (due - now).total_seconds()))
            elif verdict is Verdict.APPLY and msg is not None:
                admitted = msg.event.copy()
                admitted["MessageId"] = msg.id
                new_events.append(admitted)
            held.done.append(rec)
        return OrchestrationWorkItem(batch.instance_id, inst, new_events, held)

    async def complete_orchestration_work_item(
        self, item: OrchestrationWorkItem, cp: Checkpoint | None
    ) -> None:
        """The checkpoint, in the order the module docstring gives; then the session is
        released. A failure leaves the session locked for `abandon_orchestration_work_item`."""
        held = _held(item)
        self.sessions.executed(item.instance_id)
        await for_each(held.early, self.queues.send)
        if cp is not None and cp.state is not None:
            old = item.state.execution_id if item.state else None
            await self._checkpoint(cp.state, cp, cp.state.execution_id != old)
        for rec in held.deferred:
            with contextlib.suppress(Exception):
                await self.queues.hide(rec, 1)
        await for_each(held.done, self.queues.delete)
        self._release(held)

    async def abandon_orchestration_work_item(self, item: OrchestrationWorkItem) -> None:
        """A storage fault mid-episode: forget the cached state, put every message back with
        DurableTask's back-off, release the lock."""
        held = _held(item)
        try:
            self.sessions.forget(item.instance_id)
            recs = [*held.done, *held.deferred]
            await for_each(recs, self.queues.abandon)
        finally:
            self._release(held)

    async def abandon_batch(self, batch: PendingBatch) -> None:
        """Messages whose instance could not even be loaded (storage down): back-off."""
        try:
            self.sessions.forget(batch.instance_id)
            await for_each(batch.received, self.queues.abandon)
        finally:
            self.sessions.release(batch.instance_id, batch.received)

    def _release(self, held: _Held) -> None:
        """ReleaseTaskOrchestrationWorkItemAsync: the lock, then the session (messages that
        arrived during the episode become the instance's next batch)."""
        if held.lock is not None and held.lock.locked():
            held.lock.release()
            held.lock = None
        if held.batch is not None:
            self.sessions.release(held.batch.instance_id, held.batch.received)
            held.batch = None

    async def load(self, instance_id: str) -> Instance | None:
        """The instance's state: this process's cached copy, else storage (repaired)."""
        cached = self.sessions.cached(instance_id)
        if cached is not None:
            return cached
        return await load_repaired(self.tracking, instance_id)

    async def _checkpoint(self, state: Instance, cp: Checkpoint, replaced: bool) -> None:
        await for_each(cp.messages, self.queues.send)
        for child in cp.starts:
            await self._start_child(child)
        await self._persist(state, replaced)

    async def _persist(self, inst: Instance, replaced: bool = False) -> None:
        """History, then the row. `replaced`: ContinueAsNew ran the next execution in this
        work item, and its rows replace the old execution's from sequence number 0
        (AzureTableTrackingStore.UpdateStateAsync); a crash before the row is written leaves
        history that load_repaired recognises as ahead of the row."""
        if replaced:
            await self.tracking.replace_history(inst.instance_id, inst.execution_id, inst.history)
            inst.persisted = len(inst.history)
        elif fresh := inst.history[inst.persisted :]:
            await self.tracking.append_history(
                inst.instance_id, inst.execution_id, inst.persisted, fresh
            )
            inst.persisted = len(inst.history)
        inst.updated = self.clock()
        await self.tracking.update_instance(inst.instance_id, inst.row())
        if inst.status in TERMINAL:
            self.sessions.forget(inst.instance_id)
        else:
            self.sessions.keep(inst)

    async def _start_child(self, child: Instance) -> None:
        """Start a sub-orchestration unless a replayed checkpoint already started it."""
        row = await self.tracking.read_instance(child.instance_id)
        parent = child.parent or {}
        if row is not None and (
            row.get("ParentInstanceId") == parent.get("instanceId")
            and row.get("ParentExecutionId") == parent.get("executionId")
            and row.get("ParentTaskScheduledId") == parent.get("taskScheduledId")
        ):
            return
        if row is not None and row.get("RuntimeStatus") in ACTIVE:
            log.warning(
                "Sub-orchestration id %s is already running; not restarted", child.instance_id
            )
            return
        if row is not None:
            await self.tracking.delete_history(child.instance_id)
        self.sessions.forget(child.instance_id)
        await self.tracking.write_instance(child.instance_id, child.row())
        await self.queues.send(execution_started(child, iso(self.clock())))

    # --- activity work items ------------------------------------------------------------
    async def fetch_activity_work_items(self, count: int) -> list[ActivityWorkItem]:
        """Received work items; a malformed one is dropped here (logged, deleted)."""
        recs = await self.queues.receive(
            self.queues.workitems_name, count, self.activity_visibility
        )
        items = []
        for rec in recs:
            request = activity_request(rec.body)
            if request is None:
                log.error("Dropping malformed work item: %r", rec.body)
                await self.queues.delete(rec)
                continue
            items.append(ActivityWorkItem(request, rec))
        return items

    async def renew_activity_work_item(self, item: ActivityWorkItem) -> None:
        await self.queues.hide(_received(item), self.activity_visibility)

    async def complete_activity_work_item(
        self, item: ActivityWorkItem, response: TaskMessage
    ) -> None:
        """Send the completion, then delete the work item: a crash in between runs the
        activity again and the orchestration drops the duplicate completion by task id."""
        await self.queues.send(Outgoing(response))
        await self.queues.delete(_received(item))

    async def abandon_activity_work_item(self, item: ActivityWorkItem) -> None:
        await self.queues.abandon(_received(item))


async def load_repaired(tracking: Tracking, instance_id: str) -> Instance | None:
    """The instance from its rows, repairing what a crash between checkpoint steps left."""
    row = await tracking.read_instance(instance_id)
    if row is None:
        return None
    inst = Instance.from_row(instance_id, row)
    execution, history = await tracking.read_history(instance_id)
    if execution is not None and execution != inst.execution_id:
        if continued_from(history) != inst.execution_id:
            # An earlier execution's rows whose delete was interrupted (a restart killed
            # mid-way): the new execution's rows start at 0.
            await tracking.delete_history(instance_id)
            return inst
        # Killed between a ContinueAsNew's history write and its row write: the history is
        # the truth (as AzureStorage rebuilds state from it), the row catches up.
        started = next(e for e in history if e["EventType"] == EventType.ExecutionStarted)
        inst.execution_id, inst.input = execution, started.get("Input")
        inst.created = parse_iso(started["Timestamp"])
        inst.status = RuntimeStatus.Running
        inst.history = history
        await tracking.write_instance(instance_id, inst.row())
    if execution == inst.execution_id:
        inst.history = history
        inst.persisted = len(history)
        last = history[-1] if history else None
        if (
            last
            and last["EventType"] == EventType.ExecutionCompleted
            and inst.status not in TERMINAL
        ):
            # Killed between the history write and the row write: finish the row now.
            inst.status = RuntimeStatus(str(last.get("OrchestrationStatus", "Completed")))
            inst.output = last.get("Result")
            inst.completed = parse_iso(last["Timestamp"])
            await tracking.write_instance(instance_id, inst.row())
        elif last and inst.status == RuntimeStatus.Pending:
            # Killed between the first episode's history write and its row write: it
            # has started, so a re-sent ExecutionStarted is a duplicate, not a restart.
            inst.status = RuntimeStatus.Running
            await tracking.update_instance(instance_id, inst.row())
    return inst


def continued_from(history: list[Event]) -> str | None:
    """The execution a ContinueAsNew started this history from (its ExecutionStarted says)."""
    for e in history:
        if e["EventType"] == EventType.ExecutionStarted:
            return e.get("ContinuedFrom")
    return None


def _held(item: OrchestrationWorkItem) -> _Held:
    assert isinstance(item.token, _Held), "work item not locked by this service"
    return item.token


def _received(item: ActivityWorkItem) -> Received:
    assert isinstance(item.token, Received), "work item not fetched by this service"
    return item.token
