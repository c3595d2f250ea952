"""Queue message bodies and large payloads (DurableTask.AzureStorage's `MessageManager`).

Two kinds of message travel on the task hub's queues: a `TaskMessage` carries one history event
to an orchestration instance (control queues), a `WorkItem` asks for one activity run (the
work-item queue). A body too large for a queue message, and a table property too large for a
column, moves to a gzip blob in `{hub}-largemessages`.
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from devhost.durable.events import EventType, event
from devhost.durable.instance import Instance

QUEUE_LIMIT = 45_000  # bytes of JSON before a message body moves to a blob (64 KiB, base64)
LARGE_KEY = "largeMessageBlob"


def new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TaskMessage:
    """One history event for one orchestration instance (control queue)."""

    instance_id: str
    execution_id: str | None
    event: dict[str, Any]
    id: str = field(default_factory=new_message_id)

    def to_body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instanceId": self.instance_id,
            "executionId": self.execution_id,
            "event": self.event,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> TaskMessage | None:
        """None for a body that is not a well-formed task message (it is dropped)."""
        ev, msg_id, instance = body.get("event"), body.get("id"), body.get("instanceId")
        if not isinstance(ev, dict) or not isinstance(msg_id, str) or not isinstance(instance, str):
            return None
        if not isinstance(ev.get("EventType"), int):
            return None
        execution = body.get("executionId")
        return cls(instance, execution if isinstance(execution, str) else None, ev, msg_id)


@dataclass(frozen=True)
class WorkItem:
    """One activity run requested by an orchestration (work-item queue)."""

    instance_id: str
    execution_id: str
    name: str
    input: str | None
    task_scheduled_id: int
    id: str = field(default_factory=new_message_id)

    def to_body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instanceId": self.instance_id,
            "executionId": self.execution_id,
            "name": self.name,
            "input": self.input,
            "taskScheduledId": self.task_scheduled_id,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> WorkItem | None:
        try:
            return cls(
                instance_id=str(body["instanceId"]),
                execution_id=str(body["executionId"]),
                name=str(body["name"]),
                input=body.get("input"),
                task_scheduled_id=int(body["taskScheduledId"]),
                id=str(body.get("id") or new_message_id()),
            )
        except (KeyError, TypeError, ValueError):
            return None


Message = TaskMessage | WorkItem


@dataclass(frozen=True)
class Outgoing:
    """A message to send at the next checkpoint, visible after `delay` seconds."""

    message: Message
    delay: float = 0.0


class MessageManager:
    """Moves oversized message bodies and table properties to blobs and back."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    async def put_large(self, prefix: str, text: str) -> str:
        name = f"{prefix}/{uuid.uuid4().hex}.json.gz"
        data = gzip.compress(text.encode("utf-8"))
        await self.container.upload_blob(name, data, overwrite=True)
        return name

    async def get_large(self, name: str) -> str:
        data = await (await self.container.download_blob(name)).readall()
        return gzip.decompress(data).decode("utf-8")

    async def encode(self, body: dict[str, Any]) -> str:
        text = json.dumps(body)
        if len(text.encode("utf-8")) > QUEUE_LIMIT:
            text = json.dumps({LARGE_KEY: await self.put_large("messages", text)})
        return text

    async def decode(self, text: str) -> dict[str, Any]:
        """The message body; {} when it cannot be read (the message is then dropped)."""
        try:
            body = json.loads(text)
            if isinstance(body, dict) and LARGE_KEY in body:
                body = json.loads(await self.get_large(str(body[LARGE_KEY])))
        except (ValueError, ResourceNotFoundError):
            return {}
        return body if isinstance(body, dict) else {}


def execution_started(inst: Instance) -> Outgoing:
    """The message that starts (or restarts, or continues-as-new) an execution."""
    ev = event(
        EventType.ExecutionStarted,
        Name=inst.name,
        Input=inst.input,
        Version="",
        ParentInstanceId=(inst.parent or {}).get("instanceId"),
    )
    return Outgoing(TaskMessage(inst.instance_id, inst.execution_id, ev))
