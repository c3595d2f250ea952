"""The orchestration dispatcher (DurableTask.Core's `TaskOrchestrationDispatcher`).

Per control queue: fetch batches of messages, and for each instance lock a work item, run the
executor over its new events, and hand the checkpoint back to the service. Everything about
storage (admission, crash repair, checkpoint order) is the service's; a failure anywhere puts
the messages back through the service's abandon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from devhost.durabletask.core.executor import Replayer
from devhost.durabletask.core.service import OrchestrationService
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import TERMINAL
from devhost.durabletask.model.workitems import Checkpoint, PendingBatch, batch_size
from devhost.queuepump import BackoffPoller

log = logging.getLogger("devhost.durable")

CONTROL_BATCH = 32

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
        # queue of the worker (one dispatcher serves them all).
        self.max_concurrent = max_concurrent
        self.running = 0
        self.peak = 0
        self._slots = asyncio.Semaphore(max_concurrent) if max_concurrent else None

    async def run(self, queue: str, poller: BackoffPoller, stopping: asyncio.Event) -> None:
        async def fetch(count: int) -> list[PendingBatch]:
            return await self.service.fetch_orchestration_batches(queue, count)

        while not stopping.is_set():
            batches = await poller.receive(fetch, self.batch, batch_size)
            await asyncio.gather(*(self.process(b) for b in batches))

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
            cp: Checkpoint | None = None
            if item.state is not None and item.new_events:
                cp = await self.replayer.run(item.state, item.new_events)
                if cp.state is not None and cp.state.status in TERMINAL and self.on_finished:
                    self.on_finished(cp.state)
            await self.service.complete_orchestration_work_item(item, cp)
        except Exception as exc:  # storage fault: abandoned messages come back with back-off
            log.warning(
                "Processing %s failed (will retry): %s", batch.instance_id, exc, exc_info=True
            )
            await _quietly(self.service.abandon_orchestration_work_item(item))


async def _quietly(coro: object) -> None:
    try:
        await coro  # type: ignore[misc]
    except Exception as exc:
        log.debug("Abandon failed: %s", exc)
