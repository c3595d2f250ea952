"""`--retain-completed DURATION` / `DEVHOST_RETAIN_COMPLETED`: keep the local task hub small.

Azurite's table and queue stores get slower with every row they hold (docs/performance.md,
"Task-hub size"), and a developer's hub only grows. Azure keeps an instance's history until
someone purges it, so this is off by default and announced at start when on. It purges
through the same path as the Durable HTTP API's purge by filter (HttpApiHandler
HandleDeleteHistoryWithFiltersRequestAsync -> PurgeInstanceHistoryAsync(createdTimeFrom,
createdTimeTo, runtimeStatus)): the instances query `OrchestrationInstanceStatusQueryCondition`
builds, then each instance's history, large-message blobs and row. The only difference is the
pace: small batches, at most a quarter of the time, so a backlog of old instances drains
without starving the host's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from devhost.config import ConfigError
from devhost.durabletask.model.status import TERMINAL
from devhost.textsafe import escape
from devhost.webhooks.handlers import instance_filter

log = logging.getLogger("devhost")

SETTING = "DEVHOST_RETAIN_COMPLETED"
OPTION = "--retain-completed"
STATUSES = sorted(TERMINAL)  # Completed, Failed, Terminated: what can be purged
BATCH = 25  # instances per batch (each is ~5 storage requests)
SHARE = 0.25  # at most this share of wall time spent purging while a backlog drains
IDLE = 60.0  # seconds between looks when nothing is due
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFF = ("", "off")


class Purger(Protocol):
    async def purge_where(self, query: str | None, limit: int | None = None) -> int: ...


def parse_retention(text: str) -> timedelta | None:
    """`7d`, `12h`, `30m`, `90s` (a positive number and a unit); `off` or empty: None."""
    if text.strip().lower() in OFF:
        return None
    match = _DURATION.fullmatch(text)
    seconds = float(match[1]) * _UNIT[match[2].lower()] if match else 0.0
    if seconds <= 0 or seconds > timedelta.max.total_seconds():
        raise ConfigError(
            f"{OPTION} / {SETTING}: '{escape(text)}' is not a duration: give a positive number "
            "and a unit, s, m, h or d (7d, 12h, 30m), or off"
        )
    return timedelta(seconds=seconds)


def resolve_retention(given: str | None, settings: dict[str, str]) -> timedelta | None:
    """The option, else the app setting (local.settings.json Values or the environment)."""
    return parse_retention(given if given is not None else settings.get(SETTING, ""))


def describe(keep: timedelta) -> str:
    seconds = keep.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _UNIT[unit] and seconds % _UNIT[unit] == 0:
            return f"{int(seconds // _UNIT[unit])}{unit}"
    return f"{seconds:g}s"


def announcement(keep: timedelta) -> str:
    return (
        f"Not as in Azure: devhost purges {', '.join(STATUSES)} instances created more than "
        f"{describe(keep)} ago ({OPTION} / {SETTING}); Azure keeps them until you purge"
    )


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Retention:
    """Purges terminal instances created before `clock() - keep`, `batch` at a time."""

    def __init__(
        self,
        client: Purger,
        keep: timedelta,
        clock: Callable[[], datetime],
        *,
        batch: int = BATCH,
        idle: float = IDLE,
        share: float = SHARE,
    ) -> None:
        self.client = client
        self.keep = keep
        self.clock = clock
        self.batch = batch
        self.idle = min(idle, max(1.0, keep.total_seconds() / 2))
        self.share = share
        self.purged = 0

    def query(self) -> str | None:
        """What the HTTP API's purge sends for createdTimeTo=now-keep and the terminal
        statuses (no createdTimeFrom: DateTime.MinValue adds no condition)."""
        return instance_filter(None, self.clock() - self.keep, STATUSES)

    async def purge_batch(self) -> int:
        deleted = await self.client.purge_where(self.query(), self.batch)
        self.purged += deleted
        return deleted

    async def run(
        self,
        stop: asyncio.Event,
        pause: Callable[[asyncio.Event, float], Awaitable[None]] = _pause,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Batches while there is a backlog, each followed by a pause three times as long
        (SHARE); then a look every `idle` seconds. A storage error is one line and a pause."""
        drained = 0
        while not stop.is_set():
            started = monotonic()
            try:
                deleted = await self.purge_batch()
            except Exception as exc:  # storage down or refusing: try again later
                log.warning("Retention: purge failed (%s); trying again later", _first_line(exc))
                deleted = 0
            drained += deleted
            if deleted:
                spent = monotonic() - started
                await pause(stop, max(0.05, spent * (1 - self.share) / self.share))
                continue
            if drained:
                log.info(
                    "Retention: purged %d instance%s created more than %s ago",
                    drained,
                    "" if drained == 1 else "s",
                    describe(self.keep),
                )
                drained = 0
            await pause(stop, self.idle)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
