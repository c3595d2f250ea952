"""The control-queue dispatcher (DurableTask's orchestration work-item loop).

Checkpoint order per instance (what makes SIGKILL at any moment safe): send the outgoing
messages (activities, timers, sub-orchestration starts, parent completions), then write the
new history rows and the instance row, then delete the consumed messages. A crash before the
deletes replays the same messages; duplicates are dropped by message id and by task id, so
only activities can run twice (at-least-once, as in Durable Functions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from devhost.durabletask.azurestorage.messagedata import Outgoing, TaskMessage, execution_started
from devhost.durabletask.azurestorage.queues import Received, TaskHubQueues
from devhost.durabletask.azurestorage.sessions import (
    Admission,
    SessionManager,
    Verdict,
    group_by_instance,
)
from devhost.durabletask.azurestorage.tracking import TrackingStore
from devhost.durabletask.core.executor import Replayer
from devhost.durabletask.model.history import EventType, parse_iso, utcnow
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import ACTIVE, TERMINAL, RuntimeStatus
from devhost.monitor.outcome import finish_log_line
from devhost.queuepump import BackoffPoller

log = logging.getLogger("devhost.durable")

CONTROL_BATCH = 32


class OrchestrationDispatcher:
    def __init__(
        self,
        tracking: TrackingStore,
        queues: TaskHubQueues,
        sessions: SessionManager,
        replayer: Replayer,
        *,
        visibility: int = 30,
    ) -> None:
        self.tracking = tracking
        self.queues = queues
        self.sessions = sessions
        self.replayer = replayer
        self.visibility = visibility

    async def run(self, queue: str, poller: BackoffPoller, stopping: asyncio.Event) -> None:
        async def fetch(count: int) -> list[Received]:
            return await self.queues.receive(queue, count, self.visibility)

        while not stopping.is_set():
            recs = await poller.receive(fetch, CONTROL_BATCH)
            groups = group_by_instance(recs)
            await asyncio.gather(*(self._process_safely(i, g) for i, g in groups.items()))

    async def _process_safely(self, instance_id: str, recs: list[Received]) -> None:
        try:
            async with self.sessions.lock(instance_id):
                await self._process(instance_id, recs)
        except Exception as exc:  # storage fault: abandoned messages come back with back-off
            self.sessions.forget(instance_id)
            log.warning("Processing %s failed (will retry): %s", instance_id, exc, exc_info=True)
            await asyncio.gather(*(self.queues.abandon(rec) for rec in recs))

    async def load(self, instance_id: str) -> Instance | None:
        """The instance's state, repairing what a crash between checkpoint steps left."""
        cached = self.sessions.cached(instance_id)
        if cached is not None:
            return cached
        row = await self.tracking.read_instance(instance_id)
        if row is None:
            return None
        inst = Instance.from_row(instance_id, row)
        execution, history = await self.tracking.read_history(instance_id)
        if execution is not None and execution != inst.execution_id:
            # An earlier execution's rows whose delete was interrupted (restart or
            # continue-as-new killed mid-way): the new execution's rows start at 0.
            await self.tracking.delete_history(instance_id)
        elif execution == inst.execution_id:
            inst.history = history
            inst.persisted = len(history)
            last = history[-1] if history else None
            if (
                last
                and last["EventType"] == EventType.ExecutionCompleted
                and inst.status not in TERMINAL
            ):
                # Killed between the history write and the row write: finish the row now.
                inst.status = str(last.get("OrchestrationStatus", "Completed"))
                inst.output = last.get("Result")
                inst.completed = parse_iso(last["Timestamp"])
                await self.tracking.write_instance(instance_id, inst.row())
            elif last and inst.status == RuntimeStatus.Pending.value:
                # Killed between the first episode's history write and its row write: it
                # has started, so a re-sent ExecutionStarted is a duplicate, not a restart.
                inst.status = RuntimeStatus.Running.value
                await self.tracking.update_instance(instance_id, inst.row())
        return inst

    async def _process(self, instance_id: str, recs: list[Received]) -> None:
        inst = await self.load(instance_id)
        admission = Admission(inst)
        done: list[Received] = []
        deferred: list[Received] = []
        new_events = []
        for rec in recs:
            msg = TaskMessage.from_body(rec.body)
            verdict = admission.admit(msg)
            if verdict is Verdict.DEFER:
                deferred.append(rec)
                continue
            if verdict is Verdict.EARLY and msg is not None:
                # queue visibility is whole seconds (and capped): re-send for the remainder
                due = parse_iso(str(msg.event["FireAt"]))
                await self.queues.send(Outgoing(msg, (due - utcnow()).total_seconds()))
            elif verdict is Verdict.APPLY and msg is not None:
                new_events.append({**msg.event, "MessageId": msg.id})
            done.append(rec)

        if inst is not None and new_events:
            cp = await self.replayer.run(inst, new_events)
            if inst.status in TERMINAL:
                # Names the blob and the reason: "Orchestration 'X' (id) failed: blob a.png: ..."
                log.info(
                    "%s",
                    finish_log_line(
                        inst.name, inst.instance_id, inst.status, inst.input, inst.output
                    ),
                )
            await asyncio.gather(*(self.queues.send(out) for out in cp.messages))
            for child in cp.starts:
                if child.instance_id == inst.instance_id:
                    await self._continue_as_new(inst, child)
                else:
                    await self._start_child(child)
            if inst.status != RuntimeStatus.ContinuedAsNew.value:
                await self._persist(inst)
        for rec in deferred:
            with contextlib.suppress(Exception):
                await self.queues.hide(rec, 1)
        await asyncio.gather(*(self.queues.delete(rec) for rec in done))

    async def _persist(self, inst: Instance) -> None:
        fresh = inst.history[inst.persisted :]
        if fresh:
            await self.tracking.append_history(
                inst.instance_id, inst.execution_id, inst.persisted, fresh
            )
            inst.persisted = len(inst.history)
        inst.updated = utcnow()
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
        await self.queues.send(execution_started(child))

    async def _continue_as_new(self, inst: Instance, nxt: Instance) -> None:
        """Row first (Pending, new execution), then drop the old history, then the start."""
        self.sessions.forget(inst.instance_id)
        await self.tracking.write_instance(nxt.instance_id, nxt.row())
        await self.tracking.delete_history(nxt.instance_id)
        await self.queues.send(execution_started(nxt))
