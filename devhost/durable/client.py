"""Client operations behind the Durable HTTP API (what `DurableClient` does in the extension):
start, read, raise events and control operations, purge, query, and re-sending lost starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from devhost.contracts import FunctionRunner
from devhost.durable.events import Event, utcnow
from devhost.durable.instance import Instance
from devhost.durable.messages import Outgoing, TaskMessage, execution_started
from devhost.durable.names import unescape_key
from devhost.durable.queues import TaskHubQueues
from devhost.durable.sessions import SessionManager
from devhost.durable.status import ACTIVE, TERMINAL, RuntimeStatus
from devhost.durable.tracking import Row, TrackingStore

log = logging.getLogger("devhost.durable")

RECOVERY_INTERVAL = 30.0  # seconds a Pending row may wait for its start message


class OrchestrationConflict(Exception):
    """An instance with this id is still Pending/Running (the real extension refuses too)."""


class UnknownOrchestrator(Exception):
    pass


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

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        if self.runner.trigger_type(name) != "orchestrationTrigger":
            names: list[str] = getattr(self.runner, "function_names", list)()
            known = [n for n in names if self.runner.trigger_type(n) == "orchestrationTrigger"]
            raise UnknownOrchestrator(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function. Additional info: the following are the known orchestrator "
                "functions: " + ", ".join(known)
            )
        instance_id = instance_id or uuid.uuid4().hex
        async with self.sessions.lock(instance_id):
            inst = Instance(instance_id, name, uuid.uuid4().hex, input=input_text)
            # A new id costs one insert; only an existing row needs the read and the checks.
            if not await self.tracking.insert_instance(instance_id, inst.row()):
                row = await self.tracking.read_instance(instance_id)
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

    async def read(self, instance_id: str, history: bool = False) -> Instance | None:
        row = await self.tracking.read_instance(instance_id)
        if row is None:
            return None
        inst = Instance.from_row(instance_id, row)
        if history:
            _, inst.history = await self.tracking.read_history(instance_id)
        return inst

    async def send_event(self, instance_id: str, ev: Event) -> None:
        await self.queues.send(Outgoing(TaskMessage(instance_id, None, ev)))

    async def purge(self, instance_id: str) -> int:
        async with self.sessions.lock(instance_id):
            row = await self.tracking.read_instance(instance_id)
            if row is None or row.get("RuntimeStatus") not in TERMINAL:
                return 0
            await self.tracking.delete_history(instance_id)
            await self.tracking.delete_instance(instance_id)
            self.sessions.forget(instance_id)
            return 1

    async def query(
        self, query: str | None, top: int, token: str | None
    ) -> tuple[list[Row], str | None]:
        return await self.tracking.query_instances(query, top, token)

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
