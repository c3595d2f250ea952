"""The task hub client's storage side: start (with the duplicate-id check), read, send events,
purge, query, and re-sending starts a crash lost (DurableTask.AzureStorage's
`AzureStorageOrchestrationService` as `IOrchestrationServiceClient`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Callable
from datetime import datetime

from devhost.durabletask.azurestorage.names import unescape_key
from devhost.durabletask.azurestorage.rewind import rewind_history
from devhost.durabletask.azurestorage.sessions import SessionManager
from devhost.durabletask.azurestorage.storage import Queues, Row, Tracking
from devhost.durabletask.model.errors import OrchestrationConflict
from devhost.durabletask.model.history import Event, EventType, event, iso
from devhost.durabletask.model.messages import Outgoing, TaskMessage, execution_started
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import ACTIVE, RuntimeStatus

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]

log = logging.getLogger("devhost.durable")

PURGE_PAGE = 100  # DeleteHistoryAsync reads the instances to purge 100 at a time
RECOVERY_INTERVAL = 30.0  # seconds a Pending row may wait for its start message


# Every Instances column but Input (what a query with showInput=false selects).
STATUS_COLUMNS = [
    "PartitionKey",
    "RowKey",
    "Name",
    "Version",
    "ExecutionId",
    "RuntimeStatus",
    "CreatedTime",
    "LastUpdatedTime",
    "CompletedTime",
    "Output",
    "OutputBlobName",
    "CustomStatus",
    "CustomStatusBlobName",
    "TaskHubName",
    "ParentInstanceId",
    "ParentExecutionId",
    "ParentTaskScheduledId",
]


def _may_exist(instance_id: str) -> bool:
    """False for an id no start could have written (a table key cannot hold it either)."""
    return bool(instance_id) and not any(unicodedata.category(c) == "Cc" for c in instance_id)


class ServiceClient:
    """DurableTask.AzureStorage's `IOrchestrationServiceClient` half: what the task hub client
    does with the tables and queues."""

    def __init__(
        self,
        tracking: Tracking,
        queues: Queues,
        sessions: SessionManager,
        *,
        clock: Clock,
        new_id: IdFactory,
    ) -> None:
        self.tracking = tracking
        self.queues = queues
        self.sessions = sessions
        self.clock = clock
        self.new_id = new_id

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        """CreateTaskOrchestrationAsync: refuses an id whose instance is still active."""
        instance_id = instance_id or self.new_id()
        async with self.sessions.lock(instance_id):
            now = self.clock()
            inst = Instance(
                instance_id, name, self.new_id(), input=input_text, created=now, updated=now
            )
            # A new id costs one insert; only an existing row needs the read and the checks.
            if not await self.tracking.insert_instance(instance_id, inst.row()):
                row = await self.tracking.read_instance(instance_id, ["RuntimeStatus"])
                if row is not None and row.get("RuntimeStatus") in ACTIVE:
                    raise OrchestrationConflict(
                        f"An Orchestration instance with the status {row['RuntimeStatus']} "
                        f"already exists."
                    )
                if row is not None:
                    await self.tracking.delete_history(instance_id)
                await self.tracking.write_instance(instance_id, inst.row())
            # This process owns the orchestrations: the first episode needs no reads.
            self.sessions.keep(inst)
        await self.queues.send(execution_started(inst, iso(now)))
        return instance_id

    async def read(
        self, instance_id: str, history: bool = False, show_input: bool = True
    ) -> Instance | None:
        if not _may_exist(instance_id):
            return None
        row = await self.tracking.read_instance(instance_id, None if show_input else STATUS_COLUMNS)
        if row is None:
            return None
        inst = Instance.from_row(instance_id, row)
        if history:
            _, inst.history = await self.tracking.read_history(instance_id)
        return inst

    async def send_event(self, instance_id: str, ev: Event) -> None:
        await self.queues.send(Outgoing(TaskMessage(instance_id, None, ev)))

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        """RewindTaskOrchestrationAsync: rewrite the failures, then wake the failed leaves with
        a GenericEvent carrying the reason."""
        async with self.sessions.lock(instance_id):
            leaves = await rewind_history(self.tracking, instance_id, self.clock, [])
        for leaf in leaves:
            self.sessions.forget(leaf)
            wake = event(EventType.GenericEvent, Data=reason, Timestamp=iso(self.clock()))
            await self.queues.send(Outgoing(TaskMessage(leaf, None, wake)))

    async def purge(self, instance_id: str) -> int:
        """AzureTableTrackingStore.PurgeInstanceHistoryAsync: any existing instance, whatever its
        status; history rows, large-message blobs and the instance row."""
        if not _may_exist(instance_id):
            return 0
        async with self.sessions.lock(instance_id):
            row = await self.tracking.read_instance(instance_id, ["PartitionKey"])
            if row is None:
                return 0
            await self.tracking.delete_history(instance_id)
            await self.tracking.delete_large_messages(instance_id)
            await self.tracking.delete_instance(instance_id)
            self.sessions.forget(instance_id)
            return 1

    async def purge_where(self, query: str | None, limit: int | None = None) -> int:
        """Purge every instance the filter selects (DeleteHistoryAsync: pages of 100), or at
        most `limit` of them (devhost's retention purges in small batches)."""
        deleted = 0
        while limit is None or deleted < limit:
            top = PURGE_PAGE if limit is None else min(PURGE_PAGE, limit - deleted)
            rows, _ = await self.tracking.query_instances(query, top, None, ["PartitionKey"])
            page = 0
            for row in rows:
                page += await self.purge(unescape_key(str(row["PartitionKey"])))
            deleted += page
            if not page:  # nothing left that can be deleted
                break
        return deleted

    async def query(
        self, query: str | None, top: int, token: str | None, show_input: bool = True
    ) -> tuple[list[Row], str | None]:
        """One page of rows; offloaded properties are left for `load_row` (one row at a time)."""
        return await self.tracking.query_instances(
            query, top, token, None if show_input else STATUS_COLUMNS, reload=False
        )

    async def load_row(self, row: Row) -> Instance:
        row = await self.tracking.load_large(row)
        return Instance.from_row(unescape_key(str(row["PartitionKey"])), row)

    async def recover_pending(self, older_than: float = 0) -> None:
        """Re-send ExecutionStarted for Pending instances: a crash may have lost the message
        between writing the row and sending it (duplicates are dropped by execution id)."""
        token = None
        pending = f"RuntimeStatus eq '{RuntimeStatus.Pending.value}'"
        while True:
            rows, token = await self.tracking.query_instances(pending, 500, token)
            for row in rows:
                inst = Instance.from_row(unescape_key(str(row["PartitionKey"])), row)
                if (self.clock() - inst.updated).total_seconds() >= older_than:
                    await self.queues.send(execution_started(inst))
            if not token:
                return

    async def recover_pending_loop(
        self, stopping: asyncio.Event, every: float = RECOVERY_INTERVAL
    ) -> None:
        """A start whose message send failed (storage outage) leaves a Pending row and no
        message; re-send starts for rows still Pending after a while."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await stopping.wait()
            try:
                await self.recover_pending(older_than=every)
            except Exception as exc:  # storage still down: try again next round
                log.warning("Pending-instance recovery failed: %s", exc)
