"""Client operations behind the Durable HTTP API (what `DurableClient` does in the extension):
start, read, raise events and control operations, purge, query, and re-sending lost starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
import uuid

from devhost.contracts import FunctionRunner
from devhost.durabletask.azurestorage.messagedata import Outgoing, TaskMessage, execution_started
from devhost.durabletask.azurestorage.names import unescape_key
from devhost.durabletask.azurestorage.queues import TaskHubQueues
from devhost.durabletask.azurestorage.sessions import SessionManager
from devhost.durabletask.azurestorage.tracking import Row, TrackingStore
from devhost.durabletask.model.history import Event, EventType, utcnow
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import ACTIVE, RuntimeStatus

log = logging.getLogger("devhost.durable")

RECOVERY_INTERVAL = 30.0  # seconds a Pending row may wait for its start message


class OrchestrationConflict(Exception):
    """An instance with this id is still Pending/Running (the real extension refuses too)."""

    dotnet_type = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"


class ArgumentError(ValueError):
    """What the extension raises as ArgumentException: its HTTP API answers 400."""

    dotnet_type = "System.ArgumentException"


class UnknownOrchestrator(ArgumentError):
    pass


class InvalidOperation(Exception):
    """InvalidOperationException: the HTTP API's catch-all answers 500."""

    dotnet_type = "System.InvalidOperationException"


MAX_INSTANCE_ID = 256  # DurableClient.MaxInstanceIdLength, in UTF-16 code units
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
SUSPENDABLE = {RuntimeStatus.Running.value, RuntimeStatus.Pending.value, "ContinuedAsNew"}


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def validate_instance_id(instance_id: str) -> None:
    """DurableClient.StartNewAsync (L185-201), with its messages (the first two pass the text as
    ArgumentException's paramName, which is how .NET prints them)."""
    if instance_id.startswith("@"):
        raise ArgumentError(
            "instanceId (Parameter 'Orchestration instance ids must not start with @.')"
        )
    if any(c in "/\\?#" or unicodedata.category(c) == "Cc" for c in instance_id):
        raise ArgumentError(
            "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, "
            "or control characters.')"
        )
    if _utf16_length(instance_id) > MAX_INSTANCE_ID:
        raise ArgumentError(f"Instance ID lengths must not exceed {MAX_INSTANCE_ID} characters.")


def _may_exist(instance_id: str) -> bool:
    """False for an id no start could have written (a table key cannot hold it either)."""
    return bool(instance_id) and not any(unicodedata.category(c) == "Cc" for c in instance_id)


class DurableClient:
    def __init__(
        self,
        tracking: TrackingStore,
        queues: TaskHubQueues,
        sessions: SessionManager,
        runner: FunctionRunner,
    ) -> None:
        self.tracking = tracking
        self.queues = queues
        self.sessions = sessions
        self.runner = runner

    def orchestrator_name(self, name: str) -> str:
        """The loaded orchestrator called `name`, compared case-insensitively as the extension's
        FunctionName does (DurableTaskExtension.ThrowIfFunctionDoesNotExist)."""
        if self.runner.trigger_type(name) == "orchestrationTrigger":
            return name
        names: list[str] = getattr(self.runner, "function_names", list)()
        known = [n for n in names if self.runner.trigger_type(n) == "orchestrationTrigger"]
        for candidate in known:
            if candidate.lower() == name.lower():
                return candidate
        info = (
            "The following are the known orchestrator functions: '" + "', '".join(known) + "'."
            if known
            else "No orchestrator functions are currently registered!"
        )
        raise UnknownOrchestrator(
            f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
            f"function. Additional info: {info}"
        )

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        name = self.orchestrator_name(name)
        if instance_id:
            validate_instance_id(instance_id)
        instance_id = instance_id or uuid.uuid4().hex
        async with self.sessions.lock(instance_id):
            inst = Instance(instance_id, name, uuid.uuid4().hex, input=input_text)
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
        await self.queues.send(execution_started(inst))
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

    async def control(self, instance_id: str, ev: Event) -> None:
        """Terminate / suspend / resume with DurableClient's state checks (L379-443)."""
        inst = await self.read(instance_id, show_input=False)
        if inst is None:
            raise ArgumentError(f"No instance with ID '{instance_id}' was found.")
        kind = EventType(ev["EventType"])
        verb = {
            EventType.ExecutionTerminated: "terminate",
            EventType.ExecutionSuspended: "suspend",
            EventType.ExecutionResumed: "resume",
        }[kind]
        allowed = {
            "terminate": ACTIVE,
            "suspend": SUSPENDABLE,
            "resume": {RuntimeStatus.Suspended.value},
        }[verb]
        if inst.status not in allowed:
            raise InvalidOperation(
                f"Cannot {verb} the orchestration instance {instance_id} because instance is "
                f"in the {inst.status} state."
            )
        await self.send_event(instance_id, ev)

    async def restart(self, instance_id: str, new_instance_id: bool = True) -> str:
        """DurableClient.RestartAsync (L1142-1153): same name and input, a new id by default."""
        inst = await self.read(instance_id)
        if inst is None:
            raise ArgumentError(
                f"An orchestrastion with the instanceId {instance_id} was not found."
            )
        return await self.start_new(
            inst.name, None if new_instance_id else inst.instance_id, inst.input
        )

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

    async def purge_where(self, query: str | None) -> int:
        """Purge every instance the filter selects (DeleteHistoryAsync: pages of 100)."""
        deleted = 0
        while True:
            rows, _ = await self.tracking.query_instances(query, 100, None, ["PartitionKey"])
            page = 0
            for row in rows:
                page += await self.purge(unescape_key(str(row["PartitionKey"])))
            deleted += page
            if not page:  # nothing left that can be deleted
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
                if (utcnow() - inst.updated).total_seconds() >= older_than:
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
                await asyncio.wait_for(stopping.wait(), every)
            try:
                await self.recover_pending(older_than=every)
            except Exception as exc:  # storage still down: try again next round
                log.warning("Pending-instance recovery failed: %s", exc)
