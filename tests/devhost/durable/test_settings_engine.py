"""The Durable settings devhost honours, on the in-memory task hub and the engine's wiring
(issue 19 item 8). Each test names the real source whose rule it pins."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from azure.storage.blob.aio import ContainerClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.durabletask.azurestorage import names
from devhost.durabletask.azurestorage.messagedata import MessageManager
from devhost.durabletask.azurestorage.partitions import stale_warning
from devhost.durabletask.azurestorage.queues import TaskHubQueues
from devhost.durabletask.azurestorage.storage import Received
from devhost.durabletask.memory import MemoryTaskHub
from devhost.durabletask.model.workitems import PendingBatch
from devhost.hostsettings import durable_settings
from devhost.queuepump import BackoffPoller
from tests.devhost.durable.replaykit import FixedClock, MemoryRunner, id_factory
from tests.devhost.durable.test_dispatch import ACTIVITIES, ORCHESTRATORS


class SlowRunner(MemoryRunner):
    """Each orchestrator episode yields to the loop a few times, so episodes can overlap; the
    peak overlap is what maxConcurrentOrchestratorFunctions bounds."""

    def __init__(self) -> None:
        super().__init__(ORCHESTRATORS, ACTIVITIES)
        self.running = 0
        self.peak = 0

    async def run_orchestrator(self, function_name: str, context_json: str) -> str:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            return await super().run_orchestrator(function_name, context_json)
        finally:
            self.running -= 1


def _hub(**kwargs: Any) -> tuple[MemoryTaskHub, SlowRunner]:
    runner = SlowRunner()
    return MemoryTaskHub(runner, clock=FixedClock(), new_id=id_factory(), **kwargs), runner


async def _start_episodes(hub: MemoryTaskHub, count: int) -> None:
    """Start `count` instances and run their first episodes all at once, as the dispatcher's
    pollers do when every control queue has work."""
    for i in range(count):
        await hub.client.start_new("Chain", f"i{i}", json.dumps("x"))
    for queue in hub.queues.control_names:
        await hub.service.fetch_orchestration_messages(queue, 32)
    batches: list[PendingBatch] = []
    while (batch := hub.service.take_orchestration_batch()) is not None:
        batches.append(batch)
    assert len(batches) == count
    await asyncio.gather(*(hub.orchestrations.process(b) for b in batches))


@pytest.mark.parametrize(("limit", "peak"), [(2, 2), (None, 6)])
def test_max_concurrent_orchestrator_functions_bounds_the_episodes_at_once(
    limit: int | None, peak: int
) -> None:
    # DurableTask.Core WorkItemDispatcher: at most MaxConcurrentTaskOrchestrationWorkItems
    # (the extension's maxConcurrentOrchestratorFunctions, AzureStorageDurabilityProviderFactory
    # L86-90) work items run at once. Without a limit the six episodes overlap fully.
    hub, runner = _hub(max_orchestrations=limit)
    asyncio.run(_start_episodes(hub, 6))
    assert runner.peak == peak


def test_partition_count_sets_the_number_of_control_queues_and_the_routing() -> None:
    # AzureStorageOrchestrationService.cs L123 (one ControlQueue per partition) and L2155
    # (partition = Fnv1aHash(instanceId) % PartitionCount).
    # Naming and routing only: no storage client is needed (or built) for either.
    service = cast(QueueServiceClient, None)
    queues = TaskHubQueues(service, "Hub7", MessageManager(cast(ContainerClient, None)), 7)
    assert queues.control_names == [f"hub7-control-{p:02d}" for p in range(7)]
    for iid in ("a", "order-17", "ünïcode"):
        expected = names.fnv1a32(iid.encode()) % 7
        assert queues.control_for(iid) == f"hub7-control-{expected:02d}"


def test_a_two_partition_hub_runs_an_orchestration_to_the_end() -> None:
    hub, _ = _hub(partitions=2)
    assert hub.queues.control_names == ["memoryhub-control-00", "memoryhub-control-01"]

    async def go() -> None:
        await hub.client.start_new("Chain", "p1", json.dumps("ab"))
        await hub.run_until_idle()

    asyncio.run(go())
    assert [i.output for i in hub.finished] == [json.dumps("AB!")]


def test_control_queue_batch_size_is_what_each_receive_asks_for() -> None:
    # AzureStorageOptions.ControlQueueBatchSize -> ControlQueue.GetMessagesAsync's batch.
    hub, _ = _hub()
    hub.orchestrations.batch = durable_settings(
        {"extensions": {"durableTask": {"storageProvider": {"controlQueueBatchSize": 5}}}}
    ).control_batch
    asked: list[int] = []
    stopping = asyncio.Event()

    async def fetch(queue: str, count: int) -> list[Received]:
        asked.append(count)
        stopping.set()
        return []

    hub.service.fetch_orchestration_messages = fetch  # type: ignore[method-assign]
    poller = BackoffPoller("q", 0.01)
    asyncio.run(hub.orchestrations.receive("memoryhub-control-00", poller, stopping))
    assert asked == [5]


def test_a_changed_partition_count_is_warned_about_as_the_lease_manager_does() -> None:
    # BlobPartitionLeaseManager.GetOrCreateTaskHubInfoAsync / IsStale.
    same = {"TaskHubName": "hub", "PartitionCount": 4}
    assert stale_warning(same, "Hub", 4) is None
    assert stale_warning(same, "Hub", 2) == (
        "Partition count for the task hub hub from 4 to 2. This could result in errors for "
        "in-flight orchestrations."
    )


class SlowActivities(MemoryRunner):
    """Activities that yield to the loop while they run, counting how many overlap."""

    def __init__(self) -> None:
        super().__init__(ORCHESTRATORS, ACTIVITIES)
        self.running = 0
        self.peak = 0

    async def run_activity(
        self, function_name: str, input_json: str | None, instance_id: str | None = None
    ) -> str:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            return await super().run_activity(function_name, input_json, instance_id)
        finally:
            self.running -= 1


@pytest.mark.parametrize(("limit", "peak"), [(2, 2), (8, 6)])
def test_max_concurrent_activity_functions_bounds_the_activities_at_once(
    limit: int, peak: int
) -> None:
    # DurableTask.Core WorkItemDispatcher over TaskActivityDispatcher: at most
    # MaxConcurrentTaskActivityWorkItems (maxConcurrentActivityFunctions) at once.
    runner = SlowActivities()
    hub = MemoryTaskHub(runner, clock=FixedClock(), new_id=id_factory())
    hub.activities.concurrency = limit
    stopping = asyncio.Event()

    async def go() -> None:
        await hub.client.start_new("FanOut", "f1", json.dumps(6))
        await hub.orchestrate()  # the first episode schedules six activities
        task = asyncio.create_task(hub.activities.run(BackoffPoller("w", 0.01), stopping))
        while len(runner.runs) < 6 or runner.running:
            await asyncio.sleep(0.01)
        stopping.set()
        await asyncio.wait_for(task, 30)  # a hang guard, not a timing assertion

    asyncio.run(asyncio.wait_for(go(), 60))
    assert runner.runs.count("Square") == 6
    assert runner.peak == peak
