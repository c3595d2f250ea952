"""The run: decide per blob version, start it by the trigger's rules, keep N in flight, watch.

Nothing is remembered between runs: what is done is read back from ImageMetadata (or from the
instances), so a run killed at any point is resumed by running it again, and a version is never
started twice at once (an instance already running is watched, not started; imagemeta.trigger
refuses to overwrite an active instance).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from azure.core.exceptions import AzureError

from imagemeta.blobref import InvalidReference, parse_ref, quoted_etag
from imagemeta.reprocess.api import ApiError, ApiUnreachable, DurableApi, Status, status_from
from imagemeta.reprocess.config import Mode, Options
from imagemeta.reprocess.listing import Listing, Version
from imagemeta.reprocess.stored import RowIndex
from imagemeta.reprocess.tally import NAMES, Tally, first_line, printable
from imagemeta.trigger import ACTIVE, FINISHED, ORCHESTRATOR, Start, start_version


@dataclass(frozen=True)
class Item:
    version: Version
    has_row: bool | None = None  # None: no database, decide by instance state
    failed_id: str | None = None  # --failed: the Failed instance this item came from


Progress = Callable[[int, int | None, Tally], None]  # (done, total or None while counting, tally)


class Reprocess:
    def __init__(
        self,
        api: DurableApi,
        listing: Listing,
        rows: RowIndex | None,
        options: Options,
        progress: Progress | None = None,
    ):
        self.api, self.listing, self.rows, self.options = api, listing, rows, options
        self.tally = Tally(options.mode.value, options.dry_run, sql=rows is not None)
        self.done = 0  # selected items decided or finished: the progress bar's count
        self.total: int | None = None
        self._progress = progress or (lambda _d, _n, _t: None)
        self._sql = ThreadPoolExecutor(1, thread_name_prefix="reprocess-sql")  # one connection

    async def run(self) -> Tally:
        counter = asyncio.create_task(self._count())
        slots = asyncio.Semaphore(self.options.max_in_flight)
        try:
            async with asyncio.TaskGroup() as group:
                async for item in self._items():
                    await slots.acquire()
                    group.create_task(self._guarded(item, slots))
        finally:
            counter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await counter
            self._sql.shutdown(wait=False)
        self.total = self.done  # what was counted may have changed while the run went on
        self._progress(self.done, self.total, self.tally)
        return self.tally

    # --- what to look at -----------------------------------------------------------------
    async def _count(self) -> None:
        """A second, cheap pass that counts what the run will look at: the bar's total."""
        n = 0
        if self.options.mode is Mode.FAILED:
            async for instances in self.api.pages(runtimeStatus="Failed", top="500"):
                n += sum(1 for i in instances if _is_ours(i))
        else:
            n = await self.listing.count()
        self.total = n
        self._progress(self.done, self.total, self.tally)

    async def _items(self) -> AsyncIterator[Item]:
        if self.options.mode is Mode.FAILED:
            async for item in self._failed_items():
                yield item
            return
        loop = asyncio.get_running_loop()
        async for page in self.listing.pages():
            t = self.tally
            t.listed += page.listed
            t.unsupported += page.unsupported
            t.outside += page.listed - page.unsupported - len(page.versions)
            t.selected += len(page.versions)
            stored: set[str] | None = None
            if self.rows is not None and self.options.mode is Mode.MISSING:
                refs = [v.ref for v in page.versions]
                stored = await loop.run_in_executor(self._sql, self.rows.stored, refs)
            for v in page.versions:
                has_row = None if stored is None else v.ref.instance_id in stored
                if has_row:  # the common case on a re-run: no request at all
                    t.already_stored += 1
                    self._advance()
                    continue
                yield Item(v, has_row)

    async def _failed_items(self) -> AsyncIterator[Item]:
        """Failed instances of OrchestratorFunction whose input names a blob reference."""
        async for page in self.api.pages(runtimeStatus="Failed", showInput="true", top="100"):
            for inst in page:
                if not _is_ours(inst):
                    continue
                self.tally.listed += 1
                status = status_from(inst)
                try:
                    ref = parse_ref(status.input)
                except InvalidReference as exc:
                    self.tally.invalid += 1
                    self.tally.reason("invalid", str(inst.get("instanceId")), exc.reason)
                    self._advance()
                    continue
                if not ref.name.startswith(self.listing.window.prefix):
                    self.tally.outside += 1
                    self._advance()
                    continue
                yield Item(Version(ref, None), failed_id=str(inst.get("instanceId")))

    # --- one blob version ----------------------------------------------------------------
    async def _guarded(self, item: Item, slots: asyncio.Semaphore) -> None:
        try:
            await self._one(item)
        except ApiUnreachable:
            raise  # ends the run: nothing else can be started or watched
        except (ApiError, AzureError) as exc:
            self.tally.error(item.version.ref.name, first_line(str(exc)))
        finally:
            slots.release()
            self._advance()

    async def _one(self, item: Item) -> None:
        t, ref = self.tally, item.version.ref
        if item.failed_id is not None:
            current = await self._current_failed(item)
            if current is None:
                return
            ref = current.ref
        status = await self.api.get_status(ref.instance_id)
        state = status.runtime_status
        if state in ACTIVE:
            t.joined += 1
            if not self.options.dry_run:
                await self._watch(ref.name, ref.instance_id)
            return
        if item.failed_id is None and self.options.mode is Mode.MISSING and state == "Completed":
            output = status.output if isinstance(status.output, dict) else {}
            if output.get("status") == "rejected":
                t.rejected_earlier += 1
                return
            if item.has_row is None:  # by instance state: completed is done
                t.already_stored += 1
                return
        if self.options.dry_run:
            t.would_start += 1
            if len(t.names) < NAMES:
                t.names.append(printable(ref.name))
            return
        started = await start_version(self.api, ref, state, replace=FINISHED)
        if started is Start.STARTED:
            t.started += 1
        else:
            t.joined += 1
        await self._watch(ref.name, ref.instance_id)

    async def _current_failed(self, item: Item) -> Version | None:
        """--failed: the blob's current version, if it is still the one that failed."""
        t, ref = self.tally, item.version.ref
        if item.failed_id != ref.instance_id:
            t.invalid += 1
            t.reason("invalid", ref.name, "instance id is not the one this app derives")
            return None
        current = await self.listing.current(ref.name)
        if current is None or quoted_etag(current.ref.etag) != ref.etag:
            t.stale += 1
            return None
        if not self.listing.window.contains(current.last_modified):
            t.outside += 1
            return None
        t.selected += 1
        return current

    async def _watch(self, name: str, instance_id: str) -> None:
        delay = self.options.poll_first
        while True:
            await asyncio.sleep(delay)
            status = await self.api.get_status(instance_id)
            if status.runtime_status is None:
                status = Status("Failed", output="the instance disappeared (purged?) while watched")
            if status.runtime_status in FINISHED:
                self.tally.finish(name, status)
                return
            delay = min(delay * 1.5, self.options.poll_max)

    def _advance(self) -> None:
        self.done += 1
        self._progress(self.done, self.total, self.tally)


def _is_ours(instance: dict[str, object]) -> bool:
    return str(instance.get("name") or "").lower() == ORCHESTRATOR.lower()
