"""Queue message bodies and large payloads (DurableTask.AzureStorage's `MessageManager`).

The model's two messages (`TaskMessage` to a control queue, `ActivityRequest` to the work-item
queue, on the wire a TaskMessage holding a TaskScheduledEvent, as in DurableTask) are encoded here.
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
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from devhost.durabletask.model.history import Event, EventType, as_event
from devhost.durabletask.model.messages import ActivityRequest, Message, TaskMessage

QUEUE_LIMIT = 45 * 1024  # MessageManager.MaxStorageQueuePayloadSizeInBytes
CORE = "DurableTask.Core"
MESSAGE_DATA_TYPE = "DurableTask.AzureStorage.MessageData, DurableTask.AzureStorage"
TASK_MESSAGE_TYPE = f"{CORE}.TaskMessage, {CORE}"
INSTANCE_TYPE = f"{CORE}.OrchestrationInstance, {CORE}"

_sequence = itertools.count(1)  # TaskHubQueue's per-process messageSequenceNumber


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
    """(instance id, execution id, event, message id) of a MessageData body."""
    task = body.get("TaskMessage")
    if not isinstance(task, dict):
        return None
    inst, ev = task.get("OrchestrationInstance"), task.get("Event")
    if not isinstance(inst, dict) or not isinstance(ev, dict):
        return None
    instance_id, execution_id = inst.get("InstanceId"), inst.get("ExecutionId")
    ev = {k: v for k, v in ev.items() if k not in ("$type", "OrchestrationInstance")}
    msg_id = str(body.get("ActivityId") or "").replace("-", "")
    if not isinstance(instance_id, str) or not msg_id or not isinstance(ev.get("EventType"), int):
        return None
    execution = execution_id if isinstance(execution_id, str) else None
    return instance_id, execution, as_event(ev), msg_id


def instance_of(body: dict[str, Any]) -> str:
    parsed = _parse(body)
    return parsed[0] if parsed else ""


def to_body(msg: Message) -> dict[str, Any]:
    return message_data(msg.instance_id, msg.execution_id, msg.event, msg.id)


def task_message(body: dict[str, Any]) -> TaskMessage | None:
    """None for a body that is not a well-formed task message (it is dropped)."""
    parsed = _parse(body)
    return TaskMessage(parsed[0], parsed[1], parsed[2], parsed[3]) if parsed else None


def activity_request(body: dict[str, Any]) -> ActivityRequest | None:
    parsed = _parse(body)
    if parsed is None:
        return None
    instance_id, execution_id, ev, msg_id = parsed
    name = ev.get("Name")
    if ev["EventType"] != EventType.TaskScheduled or not isinstance(name, str):
        return None
    try:
        task_id = int(ev["EventId"])
    except (KeyError, TypeError, ValueError):
        return None
    return ActivityRequest(instance_id, execution_id or "", name, ev.get("Input"), task_id, msg_id)


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
        body = to_body(msg)
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
        except (ValueError, ResourceNotFoundError):
            return {}
        return body if isinstance(body, dict) else {}
