"""The queue pumps' poller (devhost/queuepump.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from devhost.queuepump import BackoffPoller

Sleep = Callable[[BackoffPoller, float], Awaitable[None]]


async def _old_sleep(poller: BackoffPoller, seconds: float) -> None:
    """What BackoffPoller.sleep was: asyncio.wait_for over the wake event."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(poller._wake.wait(), seconds)
    poller._wake.clear()


async def _new_sleep(poller: BackoffPoller, seconds: float) -> None:
    await poller.sleep(seconds)


async def _stopped_as_woken(sleep: Sleep) -> bool:
    """A pump (sleep until woken, forever) is woken, and cancelled in the loop turn in which
    its wait completed; True if it stopped."""
    poller = BackoffPoller("q", 0.5)

    async def pump() -> None:
        while True:
            await sleep(poller, 30)

    task = asyncio.create_task(pump())
    for _ in range(3):
        await asyncio.sleep(0)  # the pump is waiting now
    poller.wake()
    await asyncio.sleep(0)  # the wake-up completes the inner wait...
    task.cancel()  # ...as the stop arrives
    for _ in range(10):  # loop turns, no clock: a pump that kept the cancel is done by now
        await asyncio.sleep(0)
    stopped = task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return stopped


def test_a_pump_cancelled_as_it_is_woken_stops() -> None:
    # CPython gh-86296: Python 3.11's asyncio.wait_for returns the inner result when the
    # cancellation arrives in the turn the inner wait completed, so a pump that does not know
    # it was stopped polls forever (a stopped protocol-floor run waited for one in gather()
    # for 15 minutes). BackoffPoller.sleep uses asyncio.timeout, which keeps the cancellation.
    assert asyncio.run(_stopped_as_woken(_new_sleep))


def test_the_old_wait_for_path_loses_that_cancellation() -> None:
    """The rule's other side, so the test above can fail: the race is real on this Python."""
    assert not asyncio.run(_stopped_as_woken(_old_sleep))
