"""`devhost status --watch` on an injected clock: which backlog it follows, when it ends, and
its rate over the active period only (issue 23 item 4)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Console

from devhost.monitor.console import watch_backlog
from devhost.monitor.index import InstanceIndex, Summary, busy_seconds, progress


@dataclass
class Planned:
    instance_id: str
    created: float
    done_at: float
    listed_at: float | None = None  # when its row shows in the table (default: created)
    restarted_at: float | None = None  # finished, then restarted: running again from then


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StopWatching(Exception):
    pass


class PlannedSource:
    """The Instances table as it stands at the clock's time."""

    def __init__(self, clock: Clock, plan: list[Planned]) -> None:
        self.clock = clock
        self.plan = plan

    async def scan(self, index: InstanceIndex, since: float | None) -> float | None:
        now = self.clock()
        newest = None
        for p in self.plan:
            if (p.listed_at or p.created) > now:
                continue
            done = now >= p.done_at
            updated = p.done_at if done else p.created
            if p.restarted_at is not None and now >= p.restarted_at:
                done, updated = now >= p.restarted_at + 2, p.restarted_at + 2
            index.upsert(Summary(p.instance_id, "Orch", "Completed" if done else "Running",
                                 p.created, updated, None, "completed" if done else "running",
                                 None))  # fmt: skip
            newest = updated if newest is None else max(newest, updated)
        return newest


def earlier_batch() -> list[Planned]:
    return [Planned(f"old{i}", 100.0 + i, 101.0 + i) for i in range(16)]


def run_watch(
    clock: Clock, plan: list[Planned], limit: float, out: io.StringIO | None = None
) -> tuple[dict[str, Any], str]:
    out = out or io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now > limit:
            raise StopWatching

    source = PlannedSource(clock, plan)
    result = asyncio.run(
        watch_backlog(console, source, InstanceIndex(), 1.0, clock=clock, sleep=sleep)
    )
    return result, out.getvalue()


def test_a_finished_earlier_batch_is_not_the_result_the_watch_waits() -> None:
    # It once exited at once showing "16/16" from the batch before the upload.
    clock = Clock(1000.0)
    out = io.StringIO()
    with pytest.raises(StopWatching):
        run_watch(clock, earlier_batch(), limit=1060.0, out=out)
    assert "16/16" not in out.getvalue()
    assert out.getvalue().startswith("Nothing running: waiting for new instances")


def test_follows_new_uploads_and_rates_over_active_time_only() -> None:
    clock = Clock(1000.0)
    # 150 created at 1003 finishing at 10/s until 1018; 20 more at 1020 (before the watch
    # settled) finishing at 10/s until 1022. Idle: 1000-1003 and 1018-1020.
    first = [Planned(f"a{i}", 1003.0, 1003.0 + (i + 1) / 10) for i in range(150)]
    second = [Planned(f"b{i}", 1020.0, 1020.0 + (i + 1) / 10) for i in range(20)]
    result, text = run_watch(clock, earlier_batch() + first + second, limit=1100.0)
    assert (result["total"], result["done"], result["active"]) == (170, 170, 0)
    assert result["busySeconds"] == pytest.approx(17.0)
    assert result["rate"] == pytest.approx(10.0)  # over 17 active seconds, not 19 or 60
    assert 1022.0 + 5.0 <= clock.now <= 1022.0 + 5.0 + 1.0  # ended once settled
    assert "170/170" in text


def test_a_batch_running_when_the_watch_starts_is_followed_from_its_start() -> None:
    clock = Clock(1000.0)
    running = [Planned(f"r{i}", 990.0, 990.0 + 2 * (i + 1)) for i in range(10)]  # until 1010
    result, text = run_watch(clock, earlier_batch() + running, limit=1100.0)
    assert (result["total"], result["done"]) == (10, 10)
    assert text.startswith("Following the running backlog (since 00:16:30 UTC)"), text
    assert result["rate"] == pytest.approx(0.5)


def test_busy_seconds_is_the_union_of_spans() -> None:
    assert busy_seconds([]) == 0.0
    assert busy_seconds([(0, 10), (5, 12), (20, 21), (20.5, 20.7)]) == pytest.approx(13.0)


def test_progress_of_an_empty_batch() -> None:
    b = progress([], 5.0, 5.0)
    assert (b["total"], b["rate"], b["etaSeconds"]) == (0, 0.0, None)


def test_an_instance_created_before_the_first_poll_but_listed_after_is_followed() -> None:
    # The watch's first poll at 1000 does not see these yet (created 999.5, in the table at
    # 1001): they are new, not part of what had finished before the watch started.
    clock = Clock(1000.0)
    late = [Planned(f"l{i}", 999.5, 1003.0, listed_at=1001.0) for i in range(4)]
    result, _ = run_watch(clock, earlier_batch() + late, limit=1100.0)
    assert (result["total"], result["done"]) == (4, 4)


def test_a_finished_instance_restarted_after_the_start_is_followed() -> None:
    clock = Clock(1000.0)
    old = earlier_batch()
    old[0].restarted_at = 1004.0  # e.g. restart-failed: same id, running again
    result, _ = run_watch(clock, old, limit=1100.0)
    assert (result["total"], result["done"]) == (1, 1)
