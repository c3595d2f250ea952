"""Orchestration sessions (DurableTask.AzureStorage's `OrchestrationSessionManager`).

Control-queue messages are buffered per instance until the instance's next episode takes them
all (`AddMessageToPendingOrchestration`, `GetNextSessionAsync`): a message for an instance
whose episode is running waits for that episode to end and then goes out with everything else
that arrived meanwhile (`TryReleaseSession` puts the session's pending messages back), so a
fan-in of N completions takes about N / ControlQueueBufferThreshold episodes, not N / 32. The
receive loop stops while the buffer holds ControlQueueBufferThreshold messages or more
(`ControlQueue.GetMessagesAsync`), which bounds both memory and the size of one episode. A
message received twice (its visibility ran out while it waited) replaces its earlier copy
(`MessageCollection.AddOrReplace`), so the newer pop receipt is the one deleted.

Every batch of an instance that has run an episode waits, before its own episode, as long as
that instance's last episode took to load and replay (`pacing` x the time up to its
checkpoint), counted from when the batch began: at the release for messages that arrived while
the episode ran, else at its first message. This stands for the history read the real provider
makes for each new batch before the batch is ready (`ScheduleOrchestrationStatePrefetch`;
extended sessions are off for every language but .NET, DurableTaskOptions.cs), which devhost's
cached state skips; that read, like the SDK's replay, grows with the history (the checkpoint's
writes do not), and the batch keeps filling meanwhile (`AddMessageToPendingOrchestration` adds
to a batch until `GetNextSessionAsync` takes it). Without it a fan-in whose completions trickle
in would replay its whole history for every few of them; held only at the release, a fan-in
alternated episodes of 256 and 32 messages (the first receive after a full buffer drained made
a batch that nothing held).

The wait stands in for the read's duration, which only matters for what the batch takes in
meanwhile, so a batch that can no longer grow goes at once: it holds a message for every task
the instance has open (a chain's next step, the last of a fan-in), or the buffer is full (the
receive loop adds nothing more). An instance's first episode is not held (its history is
empty), nor is one this process has no state for.

Each batch is admitted against the instance's state: applied, dropped (duplicate, stale, for a
finished instance), deferred (arrived before the instance can take it) or re-sent (a timer
that surfaced before it is due). `admit` changes nothing but the admission's own memory
(message ids, completions and the status the admitted lifecycle events lead to); the executor
applies those events to the state. It is unit-tested without storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum

from devhost.durabletask.azurestorage.messagedata import instance_of
from devhost.durabletask.azurestorage.storage import Received
from devhost.durabletask.model.history import Event, EventType, parse_iso
from devhost.durabletask.model.messages import TaskMessage
from devhost.durabletask.model.state import Instance, completion_key
from devhost.durabletask.model.status import TERMINAL, RuntimeStatus
from devhost.durabletask.model.workitems import PendingBatch

# AzureStorageOptions' defaults outside the Consumption plan (AzureStorageOptions.cs
# ControlQueueBatchSize, ControlQueueBufferThreshold; AzureStorageDurabilityProviderFactory.cs
# lowers the threshold to 32 only for Python on Consumption, which devhost is not).
CONTROL_QUEUE_BATCH_SIZE = 32
CONTROL_QUEUE_BUFFER_THRESHOLD = 256


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


class SessionManager:
    """Per instance: one lock, one cached state, and the messages waiting for its next episode.

    Episodes of an instance never overlap, the process that ran the last episode needs no
    reads for the next, and an episode takes every message buffered for its instance."""

    def __init__(
        self,
        buffer_threshold: int = CONTROL_QUEUE_BUFFER_THRESHOLD,
        *,
        pacing: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.buffer_threshold = buffer_threshold
        self.pacing = pacing
        self.monotonic = monotonic
        self._started: dict[str, float] = {}  # active instance -> when its episode began
        self._executed: dict[str, float] = {}  # active instance -> when its replay ended
        self._took: dict[str, float] = {}  # instance -> its last episode's load + replay
        self._open: dict[str, int] = {}  # held batch's instance -> its tasks open at the hold
        self._not_before: dict[str, float] = {}  # held batches: instance -> when takeable
        self._locks: dict[str, asyncio.Lock] = {}
        self._cache: dict[str, Instance] = {}
        # PendingMessageBatch per instance: message id -> latest copy, in arrival order.
        self._pending: dict[str, dict[str, Received]] = {}
        self._active: set[str] = set()  # instances whose episode is running
        self._ready: deque[str] = deque()  # instances with pending messages, not active
        self._held: set[str] = set()  # stats.PendingOrchestratorMessages: ids in memory
        self._changed = asyncio.Event()

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
        self._took.pop(instance_id, None)
        self._open.pop(instance_id, None)
        self._started.pop(instance_id, None)  # a finished or abandoned episode paces nothing

    # --- the message buffer ---------------------------------------------------------------
    def has_room(self) -> bool:
        """ControlQueue.GetMessagesAsync receives only below the threshold."""
        return len(self._held) < self.buffer_threshold

    def buffered(self) -> int:
        return len(self._held)

    def add(self, received: Iterable[Received]) -> None:
        """AddMessageToPendingOrchestration: each message joins its instance's next batch."""
        for rec in received:
            instance_id = instance_of(rec.body)
            self._held.add(str(rec.message.id))
            batch = self._pending.get(instance_id)
            if batch is None:
                batch = self._pending[instance_id] = {}
                if instance_id not in self._active:
                    self._hold(instance_id)
                    self._ready.append(instance_id)
            batch[str(rec.message.id)] = rec  # AddOrReplace: the newest receipt wins
        self._signal()

    def take(self) -> PendingBatch | None:
        """GetNextSessionAsync without the wait: the next instance's whole batch, now active."""
        now = self.monotonic()
        held: list[str] = []
        found = None
        while self._ready and found is None:
            instance_id = self._ready.popleft()
            if instance_id not in self._pending or instance_id in self._active:
                continue  # stale entry: taken already, or released and re-queued later
            if self._not_before.get(instance_id, now) > now and self._may_grow(instance_id):
                held.append(instance_id)
                continue
            self._not_before.pop(instance_id, None)
            self._open.pop(instance_id, None)
            self._active.add(instance_id)
            self._started[instance_id] = now
            found = PendingBatch(instance_id, list(self._pending.pop(instance_id).values()))
        self._ready.extendleft(reversed(held))
        return found

    async def next_batch(self) -> PendingBatch:
        """Wait for the next batch (GetNextSessionAsync)."""
        while True:
            batch = self.take()
            if batch is not None:
                return batch
            self._changed.clear()
            due = min(self._not_before.values(), default=None)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(
                    None if due is None else max(0.0, due - self.monotonic())
                ):
                    await self._changed.wait()

    async def wait_for_room(self, timeout: float) -> None:
        """Until a settled message frees room, or `timeout` (the real loop re-checks every
        second)."""
        if self.has_room():
            return
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    def executed(self, instance_id: str) -> None:
        """The episode's replay is over and its checkpoint begins. The pace stands for the
        history read, which grows with the history as the replay does; the checkpoint's writes
        do not (a fan-out's first checkpoint sends every work item: paced by it, a 1,000-wide
        fan-in waited seconds for its first completions)."""
        if instance_id in self._active:
            self._executed[instance_id] = self.monotonic()

    def release(self, instance_id: str, settled: Iterable[Received]) -> None:
        """TryReleaseSession: the episode's messages have left memory (deleted, hidden or
        abandoned); whatever arrived meanwhile becomes the instance's next batch."""
        for rec in settled:
            self._held.discard(str(rec.message.id))
        self._active.discard(instance_id)
        began = self._started.pop(instance_id, None)
        executed = self._executed.pop(instance_id, None)
        if began is not None:
            self._took[instance_id] = (
                executed if executed is not None else self.monotonic()
            ) - began
        if instance_id in self._pending:
            self._hold(instance_id)
            self._ready.append(instance_id)
        self._signal()

    def _hold(self, instance_id: str) -> None:
        """A new batch waits as long as the instance's history read would (module docstring)."""
        took = self._took.get(instance_id)
        inst = self._cache.get(instance_id)
        if took is not None and inst is not None and self.pacing > 0:
            self._not_before[instance_id] = self.monotonic() + self.pacing * took
            self._open[instance_id] = inst.open_tasks()

    def _may_grow(self, instance_id: str) -> bool:
        """Whether a held batch can still take in more before its episode."""
        batch = self._pending.get(instance_id, {})
        return self.has_room() and len(batch) < self._open.get(instance_id, 0)

    def _signal(self) -> None:
        self._changed.set()
