"""Queue bodies in DurableTask.AzureStorage's MessageData shape (MessageData.cs L13-52,
DurableTask.Core TaskMessage.cs L23-47; Json.NET TypeNameHandling.Objects puts a `$type` on
every object, MessageManager.cs L59-62), so Storage Explorer and the real host read them."""

from __future__ import annotations

import json
import uuid

from devhost.durabletask.azurestorage.messagedata import (
    MESSAGE_DATA_TYPE,
    activity_request,
    instance_of,
    task_message,
    to_body,
)
from devhost.durabletask.azurestorage.tracking import blob_name
from devhost.durabletask.model.history import EventType, event
from devhost.durabletask.model.messages import ActivityRequest, TaskMessage


def test_task_message_is_message_data_with_typed_event_and_instance() -> None:
    ev = event(EventType.TaskCompleted, TaskScheduledId=3, Result='"ok"')
    msg = TaskMessage("inst/1", "exec-1", ev)
    body = json.loads(json.dumps(to_body(msg)))
    assert body["$type"] == MESSAGE_DATA_TYPE
    assert uuid.UUID(body["ActivityId"]).hex == msg.id
    task = body["TaskMessage"]
    assert task["$type"] == "DurableTask.Core.TaskMessage, DurableTask.Core"
    assert task["Event"]["$type"] == "DurableTask.Core.History.TaskCompletedEvent, DurableTask.Core"
    assert task["Event"]["EventType"] == 5 and task["Event"]["TaskScheduledId"] == 3
    assert task["OrchestrationInstance"] == {
        "$type": "DurableTask.Core.OrchestrationInstance, DurableTask.Core",
        "InstanceId": "inst/1",
        "ExecutionId": "exec-1",
    }
    assert isinstance(body["SequenceNumber"], int) and body["CompressedBlobName"] is None
    assert task_message(body) == msg
    assert instance_of(body) == "inst/1"


def test_execution_started_event_carries_its_orchestration_instance() -> None:
    ev = event(EventType.ExecutionStarted, Name="Orch", Input="1", Version="")
    body = to_body(TaskMessage("i", "e", ev))
    started = body["TaskMessage"]["Event"]
    assert started["$type"].startswith("DurableTask.Core.History.ExecutionStartedEvent,")
    assert started["OrchestrationInstance"]["InstanceId"] == "i"
    parsed = task_message(body)
    assert parsed is not None and "OrchestrationInstance" not in parsed.event


def test_work_item_is_a_task_scheduled_event_on_the_wire() -> None:
    item = ActivityRequest("i", "e", "ExtractMetadata", '{"a": 1}', 7)
    body = to_body(item)
    ev = body["TaskMessage"]["Event"]
    assert ev["$type"].startswith("DurableTask.Core.History.TaskScheduledEvent,")
    assert (ev["EventId"], ev["Name"], ev["Input"], ev["Version"]) == (
        7,
        "ExtractMetadata",
        '{"a": 1}',
        "",
    )
    assert activity_request(body) == item
    # a control message is not a work item
    assert activity_request(to_body(TaskMessage("i", "e", event(EventType.TimerFired)))) is None


def test_bodies_not_in_message_data_shape_are_dropped() -> None:
    # devhost reads only what DurableTask.AzureStorage writes (MessageData); anything else on
    # a task hub queue is dropped, not guessed at.
    ev = event(EventType.EventRaised, Name="x", Input="1")
    flat = {"id": "abc", "instanceId": "i", "executionId": None, "event": ev}
    assert task_message(flat) is None
    assert activity_request(flat) is None


def test_large_property_blob_names_follow_get_blob_name() -> None:
    # AzureTableTrackingStore.cs GetBlobName (L1352-1390)
    row = {"PartitionKey": "a^0b", "RowKey": "000000000000000A", "EventType": "TaskCompleted"}
    name = blob_name(row, "Result")
    prefix, _, rest = name.partition("/")
    parts = rest.split("-")
    assert prefix == "a^0b"
    assert parts[:3] == ["history", "000000000000000A", "TaskCompleted"]
    assert len(parts[3]) == 8 and int(parts[3], 16) >= 0
    assert parts[4] == "Result.json.gz"
    instance_row = {"PartitionKey": "x", "RowKey": ""}
    assert blob_name(instance_row, "Input").startswith("x/history--Input-")
