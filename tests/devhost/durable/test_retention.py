"""`--retain-completed` (devhost/retention.py) on the in-memory task hub, the clock injected.

The purge is the Durable HTTP API's purge by filter (HttpApiHandler.cs
HandleDeleteHistoryWithFiltersRequestAsync -> DurableTask.AzureStorage
AzureTableTrackingStore.PurgeInstanceHistoryAsync with createdTimeTo and runtimeStatus, the
query built by OrchestrationInstanceStatusQueryCondition.GetConditions): only instances in a
terminal status created before the cutoff go, each with its history rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.config import ConfigError
from devhost.durabletask.memory import MemoryTaskHub
from devhost.durabletask.model.history import EventType, event
from devhost.retention import Retention, announcement, parse_retention, resolve_retention
from tests.devhost.durable.replaykit import FixedClock, MemoryRunner, id_factory

DAY = 86400.0


def chain(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity("Upper", ctx.get_input()))


def waiter(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield ctx.wait_for_external_event("Go"))


def broken(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield ctx.call_activity("Upper", "x")
    raise ValueError("broken on purpose")


def make_hub() -> tuple[MemoryTaskHub, FixedClock]:
    clock = FixedClock()
    runner = MemoryRunner(
        {"Chain": chain, "Waiter": waiter, "Broken": broken}, {"Upper": lambda s: str(s).upper()}
    )
    return MemoryTaskHub(runner, clock=clock, new_id=id_factory()), clock


async def start(hub: MemoryTaskHub, name: str, iid: str) -> None:
    await hub.client.start_new(name, iid, json.dumps("v"))
    await hub.run_until_idle()


async def statuses(hub: MemoryTaskHub) -> dict[str, str]:
    rows, _ = await hub.client.query(None, 1000, None)
    return {str(r["PartitionKey"]): str(r["RuntimeStatus"]) for r in rows}


def test_only_terminal_instances_created_before_the_cutoff_are_purged() -> None:
    async def scenario() -> None:
        hub, clock = make_hub()
        await start(hub, "Chain", "done-old")
        await start(hub, "Broken", "failed-old")
        await start(hub, "Waiter", "running-old")
        await start(hub, "Waiter", "terminated-old")
        await hub.client.control("terminated-old", event(EventType.ExecutionTerminated))
        await hub.run_until_idle()
        clock.advance(2 * DAY)
        await start(hub, "Chain", "done-new")
        assert await statuses(hub) == {
            "done-old": "Completed", "failed-old": "Failed", "running-old": "Running",
            "terminated-old": "Terminated", "done-new": "Completed",
        }  # fmt: skip
        retention = Retention(hub.client, timedelta(days=1), clock)
        assert await retention.purge_batch() == 3
        assert await statuses(hub) == {"running-old": "Running", "done-new": "Completed"}
        for gone in ("done-old", "failed-old", "terminated-old"):
            assert await hub.tracking.read_history(gone) == (None, [])
        _, kept = await hub.tracking.read_history("done-new")
        assert kept  # a younger instance keeps its history
        assert await retention.purge_batch() == 0
        clock.advance(DAY + 1)  # now done-new too was created more than a day ago
        assert await retention.purge_batch() == 1
        assert await statuses(hub) == {"running-old": "Running"}
        assert retention.purged == 4

    asyncio.run(scenario())


def test_a_batch_purges_at_most_its_size() -> None:
    async def scenario() -> None:
        hub, clock = make_hub()
        for n in range(7):
            await start(hub, "Chain", f"c{n}")
        clock.advance(DAY)
        retention = Retention(hub.client, timedelta(hours=1), clock, batch=3)
        assert [await retention.purge_batch() for _ in range(4)] == [3, 3, 1, 0]
        assert await statuses(hub) == {}

    asyncio.run(scenario())


def test_run_paces_batches_and_then_looks_every_idle_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While a backlog drains, each batch is followed by a pause three times its duration
    (a quarter of the time purging); once drained, a look every `idle` seconds."""

    async def scenario() -> list[float]:
        hub, clock = make_hub()
        for n in range(7):
            await start(hub, "Chain", f"c{n}")
        clock.advance(DAY)
        retention = Retention(hub.client, timedelta(hours=1), clock, batch=3, idle=60.0)
        ticks = iter(range(100))
        pauses: list[float] = []
        stop = asyncio.Event()

        async def pause(_: asyncio.Event, seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 5:
                stop.set()

        await retention.run(stop, pause, monotonic=lambda: 2.0 * next(ticks))
        assert await statuses(hub) == {}
        return pauses

    with caplog.at_level(logging.INFO, logger="devhost"):
        pauses = asyncio.run(scenario())
    assert pauses == [6.0, 6.0, 6.0, 60.0, 60.0]  # each batch "took" 2 s
    assert [r.getMessage() for r in caplog.records] == [
        "Retention: purged 7 instances created more than 1h ago"
    ]


def test_a_storage_error_is_one_line_and_a_pause() -> None:
    class Down:
        async def purge_where(self, query: str | None, limit: int | None = None) -> int:
            raise ConnectionError("storage not reachable\nsecond line")

    async def scenario() -> list[float]:
        pauses: list[float] = []
        stop = asyncio.Event()

        async def pause(_: asyncio.Event, seconds: float) -> None:
            pauses.append(seconds)
            stop.set()

        await Retention(Down(), timedelta(days=7), FixedClock()).run(stop, pause)
        return pauses

    assert asyncio.run(scenario()) == [60.0]


def test_a_short_retention_looks_more_often() -> None:
    assert Retention(None, timedelta(seconds=30), FixedClock()).idle == 15.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        (" 30m ", timedelta(minutes=30)),
        ("1.5D", timedelta(hours=36)),
        ("90s", timedelta(seconds=90)),
        ("off", None),
        ("", None),
    ],
)
def test_durations(text: str, expected: timedelta | None) -> None:
    assert parse_retention(text) == expected


@pytest.mark.parametrize("text", ["7", "0d", "-1d", "7 days", "1w", "1e3d", "9" * 20 + "d"])
def test_bad_durations_are_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_retention(text)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("--retain-completed / DEVHOST_RETAIN_COMPLETED: ")
    assert "is not a duration" in message


def test_the_option_wins_over_the_setting_and_the_start_line_says_azure_keeps_them() -> None:
    settings = {"DEVHOST_RETAIN_COMPLETED": "2d"}
    assert resolve_retention(None, settings) == timedelta(days=2)
    assert resolve_retention("off", settings) is None
    assert resolve_retention(None, {}) is None
    assert announcement(timedelta(days=2)) == (
        "Not as in Azure: devhost purges Completed, Failed, Terminated instances created more "
        "than 2d ago (--retain-completed / DEVHOST_RETAIN_COMPLETED); Azure keeps them until "
        "you purge"
    )
