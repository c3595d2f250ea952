"""Control/work-item queue behaviour against a real Azurite: abandoned messages come back with
DurableTask's exponential back-off (TaskHubQueue.cs AbandonMessageAsync L237-300: 2^DequeueCount
seconds, capped at 600 and logged as poison, never deleted)."""

from __future__ import annotations

import asyncio

import pytest
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import Azurite, client_kwargs
from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.messagedata import MessageManager, task_message
from devhost.durabletask.azurestorage.queues import ABANDON_MAX, TaskHubQueues, abandon_delay
from devhost.durabletask.model.history import EventType, event
from devhost.durabletask.model.messages import Outgoing, TaskMessage
from tests.waiting import wait_until


@pytest.mark.unit
def test_abandon_delay_doubles_up_to_ten_minutes() -> None:
    assert [abandon_delay(n) for n in (1, 2, 3, 9)] == [2, 4, 8, 512]
    assert abandon_delay(10) == ABANDON_MAX == 600
    assert abandon_delay(31) == 600


def test_abandoned_message_is_hidden_then_returns_with_a_higher_dequeue_count(
    azurite: Azurite, unique_name: str
) -> None:
    cs = azurite.connection_string
    opts = client_kwargs(cs)
    with asyncio.Runner() as runner:  # one loop for the async clients, driven step by step
        blobs = BlobServiceClient.from_connection_string(cs, **opts)
        manager = MessageManager(
            blobs.get_container_client(names.largemessages_container(unique_name))
        )
        queues = TaskHubQueues(
            QueueServiceClient.from_connection_string(cs, **opts), unique_name, manager
        )
        try:
            runner.run(queues.create())
            msg = TaskMessage("inst-1", "e", event(EventType.EventRaised, Name="x", Input="1"))
            runner.run(queues.send(Outgoing(msg)))
            queue = queues.control_for("inst-1")
            [rec] = runner.run(queues.receive(queue, 32, 30))
            assert rec.message.dequeue_count == 1
            assert runner.run(queues.abandon(rec)) == 2
            assert runner.run(queues.receive(queue, 32, 30)) == []  # hidden
            again = wait_until(
                lambda: runner.run(queues.receive(queue, 32, 30)),
                timeout=10,
                interval=0.5,
                message="the abandoned message never came back",
            )
            assert [r.message.dequeue_count for r in again] == [2]
            assert task_message(again[0].body) == msg
        finally:
            runner.run(queues.close())
            runner.run(blobs.close())
