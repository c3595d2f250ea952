"""The activity dispatcher (DurableTask.Core's `TaskActivityDispatcher`): runs activities and
reports each outcome to its orchestration through the service, which deletes the work item
only after the completion is sent (at-least-once, as in Durable Functions)."""

from __future__ import annotations

import asyncio
import logging

from devhost.contracts import FunctionInvocationError, FunctionRunner
from devhost.durabletask.core.functions import ACTIVITY, FunctionCatalog
from devhost.durabletask.core.service import ActivityService
from devhost.durabletask.model.history import Event, EventType, event
from devhost.durabletask.model.messages import ActivityRequest
from devhost.durabletask.model.workitems import ActivityWorkItem
from devhost.queuepump import BackoffPoller, keep_invisible

log = logging.getLogger("devhost.durable")


class ActivityDispatcher:
    def __init__(
        self,
        service: ActivityService,
        runner: FunctionRunner,
        *,
        concurrency: int = 8,
        visibility: int = 60,
    ) -> None:
        self.service = service
        self.runner = runner
        self.functions = FunctionCatalog(runner)
        self.concurrency = concurrency
        self.visibility = visibility

    async def run(self, poller: BackoffPoller, stopping: asyncio.Event) -> None:
        running: set[asyncio.Task[None]] = set()
        while not stopping.is_set():
            free = self.concurrency - len(running)
            if free <= 0:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            for item in await poller.receive(self.service.fetch_activity_work_items, free):
                task = asyncio.create_task(self.process(item))
                running.add(task)
                task.add_done_callback(running.discard)

    async def process(self, item: ActivityWorkItem) -> None:
        async def renew() -> None:
            await self.service.renew_activity_work_item(item)

        keeper = asyncio.create_task(keep_invisible(renew, self.visibility))
        try:
            ev = await self.execute(item.request)
            keeper.cancel()
            await self.service.complete_activity_work_item(item, item.response(ev))
        except Exception as exc:  # storage fault: the work item comes back and runs again
            log.warning(
                "Activity message %s not completed (will retry): %s", item.request.name, exc
            )
            keeper.cancel()
            try:
                await self.service.abandon_activity_work_item(item)
            except Exception as again:
                log.debug("Abandon failed: %s", again)
        finally:
            keeper.cancel()

    async def execute(self, item: ActivityRequest) -> Event:
        """TaskCompleted or TaskFailed for one run of the activity. The name is looked up
        ignoring case (DurableTaskExtension's GetObject over FunctionName, L680-697); a name
        nothing answers to gets TaskNonexistentActivityShim's failure."""
        name = self.functions.resolve(item.name, ACTIVITY)
        if name is None:
            message = f"Activity function '{item.name}' does not exist."
            return event(
                EventType.TaskFailed,
                TaskScheduledId=item.task_scheduled_id,
                Reason=f"Activity function '{item.name}' failed: {message}",
                Details=message,
            )
        try:
            result = await self.runner.run_activity(name, item.input, item.instance_id)
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
