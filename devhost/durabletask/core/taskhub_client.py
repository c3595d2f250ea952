"""The task hub client (the extension's `DurableClient` over DurableTask.Core's
`TaskHubClient`): the checks the extension makes before a request reaches the backend — function
names resolved case-insensitively, instance ids validated, state checks for terminate / suspend /
resume, restart from the stored input."""

from __future__ import annotations

import unicodedata

from devhost.contracts import FunctionRunner
from devhost.durabletask.core.functions import ORCHESTRATOR, FunctionCatalog
from devhost.durabletask.core.service import OrchestrationServiceClient
from devhost.durabletask.model.errors import ArgumentError, InvalidOperation, UnknownOrchestrator
from devhost.durabletask.model.history import Event, EventType
from devhost.durabletask.model.status import ACTIVE, RuntimeStatus

MAX_INSTANCE_ID = 256  # DurableClient.MaxInstanceIdLength, in UTF-16 code units
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


class TaskHubClient:
    def __init__(self, service: OrchestrationServiceClient, runner: FunctionRunner) -> None:
        self.service = service
        self.runner = runner
        self.functions = FunctionCatalog(runner)
        # Reads, queries, events and purges need no extension-level check.
        self.read = service.read
        self.send_event = service.send_event
        self.rewind = service.rewind
        self.purge = service.purge
        self.purge_where = service.purge_where
        self.query = service.query
        self.load_row = service.load_row

    def orchestrator_name(self, name: str) -> str:
        """The loaded orchestrator called `name`, compared case-insensitively as the extension's
        FunctionName does (DurableTaskExtension.ThrowIfFunctionDoesNotExist)."""
        found = self.functions.resolve(name, ORCHESTRATOR)
        if found is None:
            raise UnknownOrchestrator(self.functions.unknown_message(name, ORCHESTRATOR))
        return found

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        name = self.orchestrator_name(name)
        if instance_id:
            validate_instance_id(instance_id)
        return await self.service.start_new(name, instance_id, input_text)

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
