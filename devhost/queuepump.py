"""One queue poller for every queue devhost reads (control, work-item, blob-trigger queues).

DurableTask.AzureStorage keeps this in one place too (`BackoffPollingHelper`): an empty receive
doubles the wait up to a ceiling, any message resets it, and a local send wakes the poller at
once instead of after the back-off. A receive costs a storage round trip (and emulator CPU)
whether it returns one message or 32, so after a partial batch on a busy queue the next receive
waits out a short window to collect several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("devhost.queuepump")

T = TypeVar("T")

# Busy-queue batching window (seconds); DEVHOST_BATCH_WINDOW=0 turns it off.
BATCH_WINDOW = float(os.environ.get("DEVHOST_BATCH_WINDOW", "0.1"))
IDLE_FLOOR = 0.05
OUTAGE_DELAY = 2.0
MAX_RECEIVE = 32  # the queue service's limit per receive


class BackoffPoller:
    """Pace of one queue's receives; `receive` never raises (a storage outage is a slow poll)."""

    def __init__(self, name: str, ceiling: float, *, window: float = BATCH_WINDOW) -> None:
        self.name = name
        self.ceiling = ceiling
        self.window = window
        self.idle = IDLE_FLOOR
        self.partial_at: float | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New work was sent (by this or another process): poll now."""
        self._wake.set()

    def next_idle(self) -> float:
        delay, self.idle = self.idle, min(self.idle * 2, self.ceiling)
        return delay

    def hold(self) -> float:
        """Seconds to wait before the next receive (0 unless the last batch was partial)."""
        if self.partial_at is None:
            return 0.0
        return max(0.0, self.window - (time.monotonic() - self.partial_at))

    def received(self, got: int, asked: int) -> None:
        self.partial_at = time.monotonic() if 0 < got < asked else None
        if got:
            self.idle = IDLE_FLOOR

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if woken. `asyncio.timeout`, not `wait_for`: Python 3.11's
        wait_for can swallow a cancellation that arrives as the wake-up does (CPython
        gh-86296), and a pump that missed its cancel polls forever (a stopped protocol-floor
        run sat in gather() for 15 minutes)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def receive(
        self,
        fetch: Callable[[int], Awaitable[list[T]]],
        count: int,
        measure: Callable[[list[T]], int] = len,
    ) -> list[T]:
        """One bounded receive through `fetch(count)`; sleeps when the queue is empty or down.
        `measure` counts the messages in what `fetch` returned (groups hold several)."""
        count = max(1, min(count, MAX_RECEIVE))
        hold = self.hold()
        if hold > 0:
            await asyncio.sleep(hold)
        try:
            got = await fetch(count)
        except Exception as exc:  # storage outage: keep trying, slower
            log.warning("Queue %s unavailable: %s", self.name, exc)
            await self.sleep(OUTAGE_DELAY)
            return []
        self.received(measure(got), count)
        if not got:
            await self.sleep(self.next_idle())
        return got


async def keep_invisible(renew: Callable[[], Awaitable[None]], visibility: float) -> None:
    """Renew a received message's invisibility while its work runs; cancel when done.

    A failed renewal is not fatal: at worst the message reappears and the work runs again,
    which every handler tolerates (at-least-once)."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(max(0.5, visibility / 3))
            try:
                await renew()
            except Exception as exc:
                log.debug("Visibility renewal failed: %s", exc)
