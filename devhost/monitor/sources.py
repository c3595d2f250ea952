"""Where the monitor's data comes from (`MonitorSource`), with two implementations:

- `LocalSource`: a devhost on this machine. Summaries from the task hub's Instances table read
  directly with a projection, incrementally (rows updated since the last poll); details and
  actions through the Durable HTTP API; the app view's rows (appview); the poison queue.
- `RemoteSource`: a deployed app, through its Durable HTTP API with the system key only
  (incrementally: instances created since the oldest still-active one); app rows if given.

Both keep an `InstanceIndex` and refresh it at most once per `min_interval`, so any number of
open pages cost the pipeline one cheap poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from devhost.monitor.api import DurableApi, iso_utc
from devhost.monitor.appview import GENERIC, AppView
from devhost.monitor.index import InstanceIndex, Summary
from devhost.monitor.table import TableInstances
from devhost.monitor.timeline import parse_time

ACTIONS = ("restart", "terminate", "purge", "raiseEvent")


class MonitorSource(Protocol):
    label: str
    view: AppView

    async def index(self) -> InstanceIndex: ...

    async def status(self, instance_id: str) -> dict[str, Any] | None: ...

    async def act(self, instance_id: str, action: str, **args: Any) -> int: ...

    async def rows(
        self, limit: int, name: str | None = None, after: str | None = None
    ) -> dict[str, Any] | None: ...

    async def poison_count(self) -> int | None: ...

    async def skip_counts(self) -> dict[str, int] | None: ...

    async def close(self) -> None: ...


class ApiSource:
    """The shared part: refresh throttling, details and actions through the HTTP API."""

    full_every = 300.0  # seconds between full re-reads (catch purges made elsewhere)

    def __init__(
        self,
        api: DurableApi,
        label: str,
        view: AppView = GENERIC,
        rows_connection: str | None = None,
        min_interval: float = 1.0,
    ) -> None:
        self.api = api
        self.label = label
        self.view = view
        self.rows_connection = rows_connection if view.rows else None
        self.min_interval = min_interval
        self._index = InstanceIndex(view)
        self._lock = asyncio.Lock()
        self._refreshed = 0.0
        self._full_at = 0.0
        self.last_refresh_ms = 0.0

    async def index(self) -> InstanceIndex:
        async with self._lock:
            now = time.monotonic()
            if now - self._refreshed >= self.min_interval:
                started = time.perf_counter()
                full = now - self._full_at >= self.full_every
                if full:
                    fresh = InstanceIndex(self.view)
                    await self._refresh(fresh, full=True)
                    self._index = fresh
                    self._full_at = now
                else:
                    await self._refresh(self._index, full=False)
                self._refreshed = time.monotonic()
                self.last_refresh_ms = (time.perf_counter() - started) * 1000
            return self._index

    async def _refresh(self, index: InstanceIndex, full: bool) -> None:
        raise NotImplementedError

    async def status(self, instance_id: str) -> dict[str, Any] | None:
        return await self.api.status(instance_id)

    async def act(self, instance_id: str, action: str, **args: Any) -> int:
        if action == "restart":
            code = await self.api.restart(instance_id)
        elif action == "terminate":
            code = await self.api.terminate(instance_id, str(args.get("reason") or ""))
        elif action == "purge":
            code = await self.api.purge(instance_id)
            if code == 200:
                self._index.remove(instance_id)
        elif action == "raiseEvent":
            code = await self.api.raise_event(instance_id, str(args["name"]), args.get("data"))
        else:
            raise ValueError(f"unknown action {action!r}")
        self._refreshed = 0.0  # the next read shows the change
        return code

    async def rows(
        self, limit: int, name: str | None = None, after: str | None = None
    ) -> dict[str, Any] | None:
        if self.view.rows is None or not self.rows_connection:
            return None
        if not self.view.rows_page:  # an app view written before paging: one page only
            if after is not None:
                raise ValueError("this app view's rows have no further pages")
            body = await asyncio.to_thread(self.view.rows, self.rows_connection, limit, name)
        else:
            body = await asyncio.to_thread(
                self.view.rows, self.rows_connection, limit, name, after=after
            )
        column = self.view.rows_subject_column
        return body if column is None else {**body, "subjectColumn": column}

    async def poison_count(self) -> int | None:
        return None

    async def skip_counts(self) -> dict[str, int] | None:
        """Blob versions the trigger skipped, by reason; None where that is not known."""
        return None

    async def close(self) -> None:
        await self.api.close()


def summary_from_status(item: dict[str, Any], view: AppView) -> Summary:
    return Summary.build(
        view=view,
        instance_id=str(item.get("instanceId")),
        name=str(item.get("name") or ""),
        status=str(item.get("runtimeStatus") or ""),
        created=parse_time(item.get("createdTime")) or 0.0,
        updated=parse_time(item.get("lastUpdatedTime")) or 0.0,
        input_value=item.get("input"),
        output_value=item.get("output"),
    )


class RemoteSource(ApiSource):
    """A deployed app: only its Durable HTTP API (+ optionally its SQL database).

    The list API filters by creation time, not update time, so a poll reads the instances
    created since the last one, and re-reads the still-active ones: one by one when there are
    few (an old instance stuck Running must not widen every window), else as one window from
    the oldest of them."""

    margin = 5.0  # seconds of overlap between windows (clock skew, late writes)
    few = 64

    async def _refresh(self, index: InstanceIndex, full: bool) -> None:
        if full or not len(index):
            for item in await self.api.list_all(showInput="true"):
                index.upsert(summary_from_status(item, self.view))
            return
        cached = list(index.items.values())
        newest = max(s.created for s in cached)
        active = [s for s in cached if s.active and s.created < newest - self.margin]
        since = newest - self.margin
        if len(active) > self.few:
            since = min(since, *(s.created for s in active)) - self.margin
            active = []
        items = await self.api.list_all(showInput="true", createdTimeFrom=iso_utc(since))
        gate = asyncio.Semaphore(8)

        async def one(instance_id: str) -> dict[str, Any] | None:
            async with gate:
                return await self.api.status(instance_id, history=False)

        fetched = await asyncio.gather(*(one(s.instance_id) for s in active))
        items.extend(f for f in fetched if f is not None)
        for item in items:
            index.upsert(summary_from_status(item, self.view))


class LocalSource(ApiSource):
    """A devhost on this machine: the Instances table for summaries, the API for the rest."""

    def __init__(
        self,
        base_url: str,
        storage: str,
        hub: str,
        view: AppView = GENERIC,
        rows_connection: str | None = None,
        *,
        min_interval: float = 1.0,
        key: str | None = None,
        api: DurableApi | None = None,
        host_id: str | None = None,
    ) -> None:
        label = f"devhost {base_url} (task hub {hub})"
        self.host_id = host_id  # whose blob-trigger skip records to count
        api = api or DurableApi(base_url, key)
        super().__init__(api, label, view, rows_connection, min_interval)
        self.table = TableInstances(storage, hub)
        self.storage = storage
        self._since: float | None = None

    async def _refresh(self, index: InstanceIndex, full: bool) -> None:
        since = None if full or self._since is None else self._since
        newest = await self.table.scan(index, since)
        if newest is not None:
            self._since = newest - 2.0  # rows written in the same instant as the last poll

    async def poison_count(self) -> int | None:
        from azure.core.exceptions import ResourceNotFoundError  # noqa: PLC0415
        from azure.storage.queue.aio import QueueClient  # noqa: PLC0415

        queue = QueueClient.from_connection_string(self.storage, "webjobs-blobtrigger-poison")
        async with queue:
            try:
                props = await queue.get_queue_properties()
            except ResourceNotFoundError:
                return 0
            return int(props.approximate_message_count or 0)

    async def skip_counts(self) -> dict[str, int] | None:
        if not self.host_id:
            return None
        from devhost.blobtrigger.skips import skip_counts  # noqa: PLC0415

        return await skip_counts(self.storage, self.host_id)

    async def close(self) -> None:
        await super().close()
        with contextlib.suppress(Exception):
            await self.table.close()
