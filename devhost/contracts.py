"""Interfaces between devhost's parts, so each can be built and tested on its own.

- The durable engine (devhost.durabletask) calls user functions only through `FunctionRunner`.
- The blob trigger listener (devhost.blobtrigger) hands each blob version to `BlobHandler`.
- devhost.runner implements both on top of devhost.invoker; devhost.host wires them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class FunctionInvocationError(Exception):
    """A user function raised. `message` is what the worker reports (str(exception))."""

    def __init__(self, function_name: str, message: str, exc_type: str = "", details: str = ""):
        super().__init__(message)
        self.function_name = function_name
        self.message = message
        self.exc_type = exc_type
        self.details = details  # formatted traceback


class FunctionRunner(Protocol):
    """What the durable engine needs from the host."""

    def trigger_type(self, function_name: str) -> str | None:
        """Trigger binding type of a loaded function ('orchestrationTrigger', ...) or None."""
        ...

    def function_names(self) -> list[str]:
        """Every loaded function's name, as function.json folders spell them."""
        ...

    async def run_orchestrator(self, function_name: str, context_json: str) -> str:
        """Run one orchestrator episode; returns the SDK's JSON reply text.

        Raises FunctionInvocationError when the function raises (the SDK then embeds
        `$OutOfProcData$:` + state JSON in the message)."""
        ...

    async def run_activity(
        self, function_name: str, input_json: str | None, instance_id: str | None = None
    ) -> str:
        """Run an activity with the JSON text the orchestrator scheduled (for the instance
        `instance_id`); returns the JSON text of its return value ('null' for None). Raises
        FunctionInvocationError."""
        ...


@dataclass(frozen=True)
class BlobTriggerTarget:
    """One blobTrigger function: which container to watch and how to match names."""

    function_name: str
    function_id: str  # "Host.Functions.<name>", as in receipts and poison messages
    connection_string: str
    account_name: str
    container: str
    blob_pattern: str  # the part of `path` after "container/", e.g. "{name}" or "{name}.png"


@dataclass
class BlobTriggerEvent:
    """A blob version to hand to a function."""

    target: BlobTriggerTarget
    blob_name: str
    uri: str
    etag: str  # with its quotes, as the service returns it
    content: bytes
    properties: dict[str, Any]  # PascalCase: ContentLength, ETag, LastModified, ...
    metadata: dict[str, str]
    binding_data: dict[str, str] = field(default_factory=dict)  # {"name": "cats/1.png"}


BlobHandler = Callable[[BlobTriggerEvent], Awaitable[None]]
