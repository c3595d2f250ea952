"""The work-item dispatcher: runs activities and reports each outcome to its orchestration.

A work item is deleted only after its completion message is sent, so a crash in between runs
the activity again (at-least-once, as in Durable Functions); the orchestration drops the
duplicate completion by task id.
"""

from __future__ import annotations

import asyncio
import logging

from devhost.contracts import FunctionInvocationError, FunctionRunner
from devhost.durabletask.azurestorage.messagedata import Outgoing, TaskMessage, WorkItem
from devhost.durabletask.azurestorage.queues import Received, TaskHubQueues
from devhost.durabletask.model.history import Event, EventType, event
from devhost.queuepump import BackoffPoller, keep_invisible

log = logging.getLogger("devhost.durable")


class ActivityDispatcher:
    def __init__(
        self,
        queues: TaskHubQueues,
        runner: FunctionRunner,
        *,
        concurrency: int = 8,
        visibility: int = 60,
    ) -> None:
        self.queues = queues
        self.runner = runner
        self.concurrency = concurrency
        self.visibility = visibility

    async def run(self, poller: BackoffPoller, stopping: asyncio.Event) -> None:
        queue = self.queues.workitems_name
        running: set[asyncio.Task[None]] = set()

        async def fetch(count: int) -> list[Received]:
            return await self.queues.receive(queue, count, self.visibility)

        while not stopping.is_set():
            free = self.concurrency - len(running)
            if free <= 0:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            for rec in await poller.receive(fetch, free):
                task = asyncio.create_task(self._activity(rec))
                running.add(task)
                task.add_done_callback(running.discard)

    async def _activity(self, rec: Received) -> None:
        item = WorkItem.from_body(rec.body)
        if item is None:
            log.error("Dropping malformed work item: %r", rec.body)
            await self.queues.delete(rec)
            return

        async def renew() -> None:
            await self.queues.hide(rec, self.visibility)

        keeper = asyncio.create_task(keep_invisible(renew, self.visibility))
        try:
            ev = await self.execute(item)
            reply = TaskMessage(item.instance_id, item.execution_id, ev)
            await self.queues.send(Outgoing(reply))
            keeper.cancel()
            await self.queues.delete(rec)
        except Exception as exc:  # storage fault: the work item comes back and runs again
            log.warning("Activity message %s not completed (will retry): %s", item.name, exc)
            keeper.cancel()
            await self.queues.abandon(rec)
        finally:
            keeper.cancel()

    async def execute(self, item: WorkItem) -> Event:
        """TaskCompleted or TaskFailed for one run of the activity."""
        try:
            result = await self.runner.run_activity(item.name, item.input)
            return event(
                EventType.TaskCompleted, TaskScheduledId=item.task_scheduled_id, Result=result
            )
        except FunctionInvocationError as exc:
            return event(
                EventType.TaskFailed,
                TaskScheduledId=item.task_scheduled_id,
                Reason=failure_reason(item.name, exc),
                Details=exc.details or exc.message,
            )


def failure_reason(activity: str, exc: FunctionInvocationError) -> str:
    """The TaskFailed reason the orchestrator sees.

    The Python worker reports an exception as "{type}: {message}" (azure-functions-python-worker
    dispatcher.py `_serialize_exception`); the extension strips the RPC envelope down to that
    text and prefixes the activity (TaskActivityShim.cs L100-124, OutOfProcExceptionHelpers.cs).
    """
    message = f"{exc.exc_type}: {exc.message}" if exc.exc_type else exc.message
    return f"Activity function '{activity}' failed: {message}"
