"""The orchestration dispatcher (DurableTask.Core's `TaskOrchestrationDispatcher`).

Two loops over the service: per control queue, receives into the service's session buffer
while it has room (DurableTask.AzureStorage's dequeue loop); and one dispatch loop that takes
the next instance's whole batch, locks a work item, runs the executor over its new events and
hands the checkpoint back, at most `max_concurrent` at once (MaxConcurrentTaskOrchestration-
WorkItems). Everything about storage (admission, crash repair, checkpoint order) is the
service's; a failure anywhere puts the messages back through the service's abandon.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from devhost.durabletask.core.executor import Replayer
from devhost.durabletask.core.service import OrchestrationService
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import TERMINAL
from devhost.durabletask.model.workitems import Checkpoint, OrchestrationWorkItem, PendingBatch
from devhost.queuepump import BackoffPoller

log = logging.getLogger("devhost.durable")

CONTROL_BATCH = 32  # ControlQueueBatchSize
BUFFER_FULL_WAIT = 1.0  # ControlQueue.GetMessagesAsync re-checks a full buffer every second
# AzureStorageDurabilityProviderFactory.cs: 10 x processors outside the Consumption plan.
MAX_CONCURRENT_ORCHESTRATIONS = 10 * (os.cpu_count() or 1)

# Told about every instance that reaches a terminal status (the host writes its log line).
FinishHook = Callable[[Instance], None]


class OrchestrationDispatcher:
    def __init__(
        self,
        service: OrchestrationService,
        replayer: Replayer,
        *,
        on_finished: FinishHook | None = None,
        batch: int = CONTROL_BATCH,
        max_concurrent: int | None = None,
    ) -> None:
        self.service = service
        self.replayer = replayer
        self.on_finished = on_finished
        self.batch = batch  # storageProvider.controlQueueBatchSize
        # maxConcurrentOrchestratorFunctions: DurableTask.Core's WorkItemDispatcher runs at
        # most MaxConcurrentTaskOrchestrationWorkItems episodes at once, over every control
        # queue of the worker (one dispatcher serves them all). `run` takes a batch only when
        # a slot is free (what it has not taken keeps collecting messages); `process` applies
        # an explicit limit to direct callers too (the in-memory hub's driver).
        self.max_concurrent = max_concurrent or MAX_CONCURRENT_ORCHESTRATIONS
        self.running = 0
        self.peak = 0
        self._slots = asyncio.Semaphore(max_concurrent) if max_concurrent else None

    async def receive(self, queue: str, poller: BackoffPoller, stopping: asyncio.Event) -> None:
        """One control queue's dequeue loop: receive while the buffer has room."""

        async def fetch(count: int) -> list[object]:
            return list(await self.service.fetch_orchestration_messages(queue, count))

        while not stopping.is_set():
            if not self.service.has_buffer_room():
                await self.service.wait_for_buffer_room(BUFFER_FULL_WAIT)
                continue
            await poller.receive(fetch, self.batch)

    async def run(self, stopping: asyncio.Event) -> None:
        """Take batches as they become ready; at most `max_concurrent` episodes at once."""
        slots = asyncio.Semaphore(self.max_concurrent)
        running: set[asyncio.Task[None]] = set()

        async def one(batch: PendingBatch) -> None:
            try:
                await self.process(batch)
            finally:
                slots.release()

        try:
            while not stopping.is_set():
                await slots.acquire()
                batch = await self.service.next_orchestration_batch()
                task = asyncio.create_task(one(batch))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in list(running):
                task.cancel()

    async def process(self, batch: PendingBatch) -> None:
        """One episode for one instance, once a slot is free; never raises."""
        if self._slots is None:
            await self._process(batch)
            return
        async with self._slots:
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await self._process(batch)
            finally:
                self.running -= 1

    async def _process(self, batch: PendingBatch) -> None:
        """Faults are abandoned and logged."""
        try:
            item = await self.service.lock_orchestration_work_item(batch)
        except Exception as exc:  # storage fault while loading: back off
            log.warning("Processing %s failed (will retry): %s", batch.instance_id, exc)
            await _quietly(self.service.abandon_batch(batch))
            return
        try:
            cp = await self.execute(item)
            await self.service.complete_orchestration_work_item(item, cp)
        except Exception as exc:  # storage fault: abandoned messages come back with back-off
            log.warning(
                "Processing %s failed (will retry): %s", batch.instance_id, exc, exc_info=True
            )
            await _quietly(self.service.abandon_orchestration_work_item(item))

    async def execute(self, item: OrchestrationWorkItem) -> Checkpoint | None:
        if item.state is None or not item.new_events:
            return None
        cp = await self.replayer.run(item.state, item.new_events)
        if cp.state is not None and cp.state.status in TERMINAL and self.on_finished:
            self.on_finished(cp.state)
        return cp


async def _quietly(coro: object) -> None:
    try:
        await coro  # type: ignore[misc]
    except Exception as exc:
        log.debug("Abandon failed: %s", exc)
