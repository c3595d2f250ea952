"""Queue message bodies and large payloads (DurableTask.AzureStorage's `MessageManager`).

Two kinds of message travel on the task hub's queues: a `TaskMessage` carries one history event
to an orchestration instance (control queues), a `WorkItem` asks for one activity run (the
work-item queue; on the wire it is a TaskMessage holding a TaskScheduledEvent, as in DurableTask).
Bodies are DurableTask.AzureStorage's `MessageData` JSON (MessageData.cs, TaskMessage.cs,
Json.NET with TypeNameHandling.Objects: a `$type` on every object), so Storage Explorer and the
real host read them as their own. A body over 45 KB moves to a gzip blob in
`{hub}-largemessages` named as MessageManager.GetNewLargeMessageBlobName does, and the queue
carries a MessageData with only `CompressedBlobName`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from devhost.durabletask.model.history import Event, EventType, event
from devhost.durabletask.model.state import Instance

QUEUE_LIMIT = 45 * 1024  # MessageManager.MaxStorageQueuePayloadSizeInBytes
CORE = "DurableTask.Core"
MESSAGE_DATA_TYPE = "DurableTask.AzureStorage.MessageData, DurableTask.AzureStorage"
TASK_MESSAGE_TYPE = f"{CORE}.TaskMessage, {CORE}"
INSTANCE_TYPE = f"{CORE}.OrchestrationInstance, {CORE}"

_sequence = itertools.count(1)  # TaskHubQueue's per-process messageSequenceNumber


def new_message_id() -> str:
    return uuid.uuid4().hex


def event_type_name(ev: Event) -> str:
    """`$type` of a history event: DurableTask.Core.History.{EventType}Event."""
    return f"{CORE}.History.{EventType(ev['EventType']).name}Event, {CORE}"


def _instance(instance_id: str, execution_id: str | None) -> dict[str, Any]:
    return {"$type": INSTANCE_TYPE, "InstanceId": instance_id, "ExecutionId": execution_id}


def message_data(
    instance_id: str, execution_id: str | None, ev: Event, activity_id: str
) -> dict[str, Any]:
    typed = {"$type": event_type_name(ev), **ev}
    if ev["EventType"] == EventType.ExecutionStarted:
        typed["OrchestrationInstance"] = _instance(instance_id, execution_id)
    return {
        "$type": MESSAGE_DATA_TYPE,
        "ActivityId": str(uuid.UUID(activity_id)),
        "TaskMessage": {
            "$type": TASK_MESSAGE_TYPE,
            "Event": typed,
            "SequenceNumber": 0,
            "OrchestrationInstance": _instance(instance_id, execution_id),
            "OrchestrationExecutionContext": None,
        },
        "CompressedBlobName": None,
        "SequenceNumber": next(_sequence),
        "SerializableTraceContext": None,
    }


def _parse(body: dict[str, Any]) -> tuple[str, str | None, Event, str] | None:
    """(instance id, execution id, event, message id) of a MessageData body (or of the flat
    shape earlier devhost versions wrote, so a hub they left behind still drains)."""
    task = body.get("TaskMessage")
    instance_id: Any
    execution_id: Any
    ev: Any
    msg_id: Any
    if isinstance(task, dict):
        inst, ev = task.get("OrchestrationInstance"), task.get("Event")
        if not isinstance(inst, dict) or not isinstance(ev, dict):
            return None
        instance_id, execution_id = inst.get("InstanceId"), inst.get("ExecutionId")
        ev = {k: v for k, v in ev.items() if k not in ("$type", "OrchestrationInstance")}
        msg_id = str(body.get("ActivityId") or "").replace("-", "")
    else:
        instance_id, execution_id = body.get("instanceId"), body.get("executionId")
        ev, msg_id = body.get("event"), body.get("id")
        if body.get("name") is not None and "taskScheduledId" in body:  # flat work item
            ev = event(
                EventType.TaskScheduled,
                body["taskScheduledId"],
                Name=body["name"],
                Input=body.get("input"),
            )
    if not isinstance(instance_id, str) or not isinstance(ev, dict) or not msg_id:
        return None
    if not isinstance(ev.get("EventType"), int):
        return None
    return instance_id, execution_id if isinstance(execution_id, str) else None, ev, str(msg_id)


def instance_of(body: dict[str, Any]) -> str:
    parsed = _parse(body)
    return parsed[0] if parsed else ""


@dataclass(frozen=True)
class TaskMessage:
    """One history event for one orchestration instance (control queue)."""

    instance_id: str
    execution_id: str | None
    event: Event
    id: str = field(default_factory=new_message_id)

    def to_body(self) -> dict[str, Any]:
        return message_data(self.instance_id, self.execution_id, self.event, self.id)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> TaskMessage | None:
        """None for a body that is not a well-formed task message (it is dropped)."""
        parsed = _parse(body)
        return cls(parsed[0], parsed[1], parsed[2], parsed[3]) if parsed else None


@dataclass(frozen=True)
class WorkItem:
    """One activity run requested by an orchestration (work-item queue)."""

    instance_id: str
    execution_id: str
    name: str
    input: str | None
    task_scheduled_id: int
    id: str = field(default_factory=new_message_id)

    @property
    def event(self) -> Event:
        return event(
            EventType.TaskScheduled,
            self.task_scheduled_id,
            Name=self.name,
            Version="",
            Input=self.input,
        )

    def to_body(self) -> dict[str, Any]:
        return message_data(self.instance_id, self.execution_id, self.event, self.id)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> WorkItem | None:
        parsed = _parse(body)
        if parsed is None:
            return None
        instance_id, execution_id, ev, msg_id = parsed
        if ev["EventType"] != EventType.TaskScheduled or not isinstance(ev.get("Name"), str):
            return None
        try:
            task_id = int(ev["EventId"])
        except (KeyError, TypeError, ValueError):
            return None
        return cls(instance_id, execution_id or "", ev["Name"], ev.get("Input"), task_id, msg_id)


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

    async def put_large(self, name: str, text: str) -> str:
        data = gzip.compress(text.encode("utf-8"))
        await self.container.upload_blob(name, data, overwrite=True)
        return name

    async def get_large(self, name: str) -> str:
        data = await (await self.container.download_blob(name)).readall()
        return gzip.decompress(data).decode("utf-8")

    async def encode(self, msg: Message) -> str:
        body = msg.to_body()
        text = json.dumps(body)
        if len(text.encode("utf-8")) > QUEUE_LIMIT:
            kind = EventType(msg.event["EventType"]).name
            name = f"{msg.instance_id}/message-{uuid.UUID(msg.id).hex}-{kind}.json.gz"
            await self.put_large(name, text)
            text = json.dumps({"$type": MESSAGE_DATA_TYPE, "CompressedBlobName": name})
        return text

    async def decode(self, text: str) -> dict[str, Any]:
        """The message body; {} when it cannot be read (the message is then dropped)."""
        try:
            body = json.loads(text)
            if isinstance(body, dict) and body.get("CompressedBlobName"):
                body = json.loads(await self.get_large(str(body["CompressedBlobName"])))
            elif isinstance(body, dict) and "largeMessageBlob" in body:  # earlier devhost
                body = json.loads(await self.get_large(str(body["largeMessageBlob"])))
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
