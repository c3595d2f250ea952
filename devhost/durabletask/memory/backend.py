"""In-memory tables and queues behind the AzureStorage provider's own service and client.

Queues keep Azure Storage's visibility rules (a received message is hidden for the visibility
timeout, a delete needs the latest pop receipt, abandon hides with DurableTask's back-off) on
the injected clock, so a test moves time instead of sleeping. `FaultPlan` makes any write point
raise `Crash`, which a test treats as the process dying there: `restart()` drops every in-process
cache and lock, as a new host would start with nothing but what storage holds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import itertools
import json
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from azure.storage.queue import QueueMessage

from devhost.contracts import FunctionRunner
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.client import ServiceClient
from devhost.durabletask.azurestorage.messagedata import instance_of, to_body
from devhost.durabletask.azurestorage.queues import MAX_DELAY, abandon_delay
from devhost.durabletask.azurestorage.service import TaskHubService
from devhost.durabletask.azurestorage.sessions import (
    CONTROL_QUEUE_BATCH_SIZE,
    CONTROL_QUEUE_BUFFER_THRESHOLD,
    SessionManager,
)
from devhost.durabletask.azurestorage.storage import Received, Row
from devhost.durabletask.azurestorage.tracking import InvalidContinuationToken
from devhost.durabletask.core.activity_dispatcher import ActivityDispatcher
from devhost.durabletask.core.executor import Replayer
from devhost.durabletask.core.functions import FunctionCatalog
from devhost.durabletask.core.orchestration_dispatcher import OrchestrationDispatcher
from devhost.durabletask.core.taskhub_client import TaskHubClient
from devhost.durabletask.memory.odata import compile_filter
from devhost.durabletask.model.history import Event
from devhost.durabletask.model.messages import ActivityRequest, Outgoing, TaskMessage
from devhost.durabletask.model.state import Instance

Clock = Callable[[], datetime]


class Crash(BaseException):
    """The process died at a write point (raised by a FaultPlan). A BaseException, so no
    `except Exception` in the code under test can swallow it, as none can survive SIGKILL."""


@dataclass
class FaultPlan:
    """Crash at the `at`-th write (1-based) counted over every write point, or never.

    `log` records every write point passed, so a test can first count a clean run's writes and
    then crash at each of them in turn."""

    at: int | None = None
    log: list[str] = field(default_factory=list)

    def write(self, point: str) -> None:
        self.log.append(point)
        if self.at is not None and len(self.log) == self.at:
            raise Crash(f"crash at write {self.at}: {point}")


class MemoryTracking:
    def __init__(self, faults: FaultPlan) -> None:
        self.faults = faults
        self.instances: dict[str, Row] = {}
        self.history: dict[str, list[Row]] = {}

    async def create(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _row(self, instance_id: str, fields: Row) -> Row:
        return {"PartitionKey": names.escape_key(instance_id), "RowKey": "", **fields}

    async def read_instance(self, instance_id: str, select: list[str] | None = None) -> Row | None:
        row = self.instances.get(instance_id)
        if row is None:
            return None
        return {k: v for k, v in row.items() if not select or k in select}

    async def write_instance(self, instance_id: str, fields: Row) -> None:
        self.faults.write("write_instance")
        self.instances[instance_id] = self._row(instance_id, copy.deepcopy(fields))

    async def update_instance(self, instance_id: str, fields: Row) -> None:
        self.faults.write("update_instance")
        self.instances[instance_id] = self._row(instance_id, copy.deepcopy(fields))

    async def insert_instance(self, instance_id: str, fields: Row) -> bool:
        self.faults.write("insert_instance")
        if instance_id in self.instances:
            return False
        self.instances[instance_id] = self._row(instance_id, copy.deepcopy(fields))
        return True

    async def delete_instance(self, instance_id: str) -> None:
        self.faults.write("delete_instance")
        self.instances.pop(instance_id, None)

    async def query_instances(
        self,
        query: str | None,
        top: int,
        token: str | None,
        select: list[str] | None = None,
        *,
        reload: bool = True,
    ) -> tuple[list[Row], str | None]:
        try:
            offset = int(json.loads(base64.b64decode(token, validate=True))) if token else 0
        except (ValueError, binascii.Error) as exc:
            raise InvalidContinuationToken(str(exc)) from exc
        match = compile_filter(query)
        rows = sorted(
            (r for r in self.instances.values() if match(r)), key=lambda r: r["PartitionKey"]
        )
        page = rows[offset : offset + top]
        more = offset + top < len(rows)
        nxt = base64.b64encode(json.dumps(offset + top).encode()).decode() if more else None
        return [{k: v for k, v in r.items() if not select or k in select} for r in page], nxt

    async def load_large(self, row: Row) -> Row:
        return row

    async def delete_large_messages(self, instance_id: str) -> int:
        return 0

    async def read_history(self, instance_id: str) -> tuple[str | None, list[Event]]:
        """The current execution's rows (the first row's execution, as the sentinel names it);
        rows an earlier execution left past them are ignored, as the table store does."""
        rows = self.history.get(instance_id, [])
        if not rows:
            return None, []
        execution = rows[0]["ExecutionId"]
        current = [r for r in rows if r["ExecutionId"] == execution]
        return execution, [copy.deepcopy(r["Event"]) for r in current]

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, events: Iterable[Event]
    ) -> None:
        """InsertOrReplace by sequence number, as the table store writes history rows: rows an
        earlier execution left past a ContinueAsNew's shorter history are overwritten."""
        self.faults.write("append_history")
        rows = self.history.setdefault(instance_id, [])
        if rows and rows[0]["ExecutionId"] != execution_id and start == 0:
            raise RuntimeError("history of another execution is still there")
        if any(r["ExecutionId"] != execution_id for r in rows[:start]) or start > len(rows):
            raise RuntimeError(f"row {start} does not follow this execution's rows")
        new = [{"ExecutionId": execution_id, "Event": copy.deepcopy(e)} for e in events]
        rows[start : start + len(new)] = new

    async def replace_history(
        self, instance_id: str, execution_id: str, events: list[Event]
    ) -> None:
        """One atomic write of a new execution's rows (InsertOrReplace over the old ones); old
        rows past the new ones stay behind, as in the table."""
        self.faults.write("replace_history")
        rows = self.history.setdefault(instance_id, [])
        new = [{"ExecutionId": execution_id, "Event": copy.deepcopy(e)} for e in events]
        rows[: len(new)] = new

    async def delete_history(self, instance_id: str) -> int:
        self.faults.write("delete_history")
        return len(self.history.pop(instance_id, []))


@dataclass
class _Stored:
    id: str
    text: str
    visible_at: datetime
    dequeue_count: int = 0
    pop_receipt: str = ""


class MemoryQueues:
    def __init__(
        self, hub: str, clock: Clock, faults: FaultPlan, partitions: int = names.PARTITIONS
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.control_names = [names.control_queue(hub, p) for p in range(partitions)]
        self.workitems_name = names.workitem_queue(hub)
        self.queues: dict[str, list[_Stored]] = {
            n: [] for n in [*self.control_names, self.workitems_name]
        }
        self.on_sent: Callable[[str], Awaitable[None]] | None = None
        self._ids = itertools.count(1)
        self.sent: list[TaskMessage | ActivityRequest] = []  # every message ever sent

    async def create(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def control_for(self, instance_id: str) -> str:
        return self.control_names[names.partition_of(instance_id, len(self.control_names))]

    async def send(self, out: Outgoing) -> None:
        self.faults.write("send")
        msg = out.message
        queue = (
            self.control_for(msg.instance_id)
            if isinstance(msg, TaskMessage)
            else self.workitems_name
        )
        delay = math.ceil(max(0.0, min(out.delay, MAX_DELAY)))
        visible = self.clock() + timedelta(seconds=delay)
        self.queues[queue].append(_Stored(str(next(self._ids)), json.dumps(to_body(msg)), visible))
        self.sent.append(msg)
        if out.delay <= 0 and self.on_sent is not None:
            await self.on_sent(queue)

    async def receive(self, queue: str, count: int, visibility: int) -> list[Received]:
        now = self.clock()
        out: list[Received] = []
        for stored in self.queues[queue]:
            if len(out) >= count:
                break
            if stored.visible_at > now:
                continue
            stored.visible_at = now + timedelta(seconds=visibility)
            stored.dequeue_count += 1
            stored.pop_receipt = f"{stored.id}.{stored.dequeue_count}"
            msg = QueueMessage(content=stored.text)
            msg.id, msg.dequeue_count, msg.pop_receipt = (
                stored.id,
                stored.dequeue_count,
                stored.pop_receipt,
            )
            out.append(Received(queue, msg, json.loads(stored.text)))
        return out

    def _find(self, rec: Received) -> _Stored | None:
        for stored in self.queues[rec.queue]:
            if stored.id == rec.message.id and stored.pop_receipt == rec.message.pop_receipt:
                return stored
        return None

    async def delete(self, rec: Received) -> None:
        self.faults.write("delete")
        stored = self._find(rec)
        if stored is not None:  # else: taken and deleted by another receive (ignored)
            self.queues[rec.queue].remove(stored)

    async def abandon(self, rec: Received) -> int:
        seconds = abandon_delay(int(rec.message.dequeue_count or 1))
        await self.hide(rec, seconds)
        return seconds

    async def hide(self, rec: Received, seconds: int) -> None:
        stored = self._find(rec)
        if stored is None:
            raise LookupError("message not found (pop receipt changed)")
        stored.visible_at = self.clock() + timedelta(seconds=seconds)
        stored.pop_receipt = f"{stored.id}.{stored.dequeue_count}.h{seconds}"
        rec.message.pop_receipt = stored.pop_receipt

    def visible(self, queue: str) -> int:
        now = self.clock()
        return sum(1 for s in self.queues[queue] if s.visible_at <= now)

    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def instances_in(self, queue: str) -> list[str]:
        return [instance_of(json.loads(s.text)) for s in self.queues[queue]]


class MemoryTaskHub:
    """A whole task hub in memory: service, client, dispatchers, and a driver that runs work
    until nothing is visible (no pollers, no sleeps)."""

    def __init__(
        self,
        runner: FunctionRunner,
        *,
        clock: Clock,
        new_id: Callable[[], str],
        faults: FaultPlan | None = None,
        hub: str = "MemoryHub",
        buffer_threshold: int = CONTROL_QUEUE_BUFFER_THRESHOLD,
        control_batch: int = CONTROL_QUEUE_BATCH_SIZE,
        partitions: int = names.PARTITIONS,
        max_orchestrations: int | None = None,
    ) -> None:
        self.runner = runner
        self.max_orchestrations = max_orchestrations
        self.clock = clock
        self.new_id = new_id
        self.faults = faults or FaultPlan()
        self.tracking = MemoryTracking(self.faults)
        self.queues = MemoryQueues(hub, clock, self.faults, partitions)
        self.finished: list[Instance] = []
        self.episodes = 0
        self.episode_sizes: list[int] = []  # messages handed to each episode
        self.buffer_threshold = buffer_threshold
        self.control_batch = control_batch
        self.restart()

    def restart(self) -> None:
        """A new process on the same storage: no session cache, no locks."""
        # No pacing: the driver runs every ready episode in turn, on no clock of its own.
        self.sessions = SessionManager(self.buffer_threshold, pacing=0.0)
        self.service = TaskHubService(self.tracking, self.queues, self.sessions, clock=self.clock)
        self.service_client = ServiceClient(
            self.tracking, self.queues, self.sessions, clock=self.clock, new_id=self.new_id
        )
        self.client = TaskHubClient(self.service_client, self.runner)
        self.replayer = Replayer(
            self.runner.run_orchestrator,
            clock=self.clock,
            new_id=self.new_id,
            functions=FunctionCatalog(self.runner),
        )
        self.orchestrations = OrchestrationDispatcher(
            self.service,
            self.replayer,
            on_finished=self.finished.append,
            max_concurrent=self.max_orchestrations,
        )
        self.activities = ActivityDispatcher(self.service, self.runner)

    async def step(self) -> int:
        """One round: `orchestrate`, then the visible work items (32). Returns how many
        messages it took."""
        taken = await self.orchestrate()
        items = await self.service.fetch_activity_work_items(32)
        taken += len(items)
        await asyncio.gather(*(self.activities.process(i) for i in items))
        return taken

    async def orchestrate(self) -> int:
        """Receive from every control queue while the session buffer has room
        (`control_batch` at a time, as the dequeue loops do while episodes run), then run one
        episode per ready instance with everything buffered for it. Returns how many messages
        it received."""
        taken = 0
        for queue in self.queues.control_names:
            while self.service.has_buffer_room():
                got = await self.service.fetch_orchestration_messages(queue, self.control_batch)
                taken += len(got)
                if not got:
                    break
        while (batch := self.service.take_orchestration_batch()) is not None:
            self.episodes += 1
            self.episode_sizes.append(len(batch.received))
            await self.orchestrations.process(batch)
        return taken

    async def run_activities(self) -> int:
        """Run every visible work item, and nothing else: completions pile up on the control
        queues as they do while an orchestration's episode is busy. Returns how many ran."""
        ran = 0
        while items := await self.service.fetch_activity_work_items(32):
            ran += len(items)
            await asyncio.gather(*(self.activities.process(i) for i in items))
        return ran

    async def run_until_idle(self, max_steps: int = 10_000) -> None:
        """Process until no message is visible; raises Crash from a fault point."""
        for _ in range(max_steps):
            if not await self.step():
                return
        raise AssertionError(f"still busy after {max_steps} steps")
