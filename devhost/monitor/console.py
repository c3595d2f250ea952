"""`python -m devhost status`: the task hub at a glance, read from its tables (devhost need not
run). Hub-wide counts by runtime status and outcome, then the newest instances with their
subject, outcome and reason (the app's words, through its app view: devhost.monitor.appview);
`--status`/`--outcome` filter; `--watch` follows the backlog live (index.BacklogWatch: done/total,
rate over its active time, ETA); `status <id>` shows one instance's history timeline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from azure.data.tables.aio import TableClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from devhost.blobtrigger.skips import skip_counts
from devhost.durabletask.azurestorage.names import escape_key, unescape_key
from devhost.monitor.appview import GENERIC, AppView
from devhost.monitor.fit import Column, fitted_table, widths
from devhost.monitor.index import BacklogWatch, InstanceIndex, Query
from devhost.monitor.payloads import failure_text
from devhost.monitor.table import TableInstances
from devhost.monitor.timeline import build_timeline
from devhost.textsafe import escape, escape_lines

STYLE = {"completed": "green", "failed": "red",
         "terminated": "grey50", "running": "blue", "Completed": "green", "Failed": "red",
         "Running": "blue", "Pending": "blue", "Terminated": "grey50"}  # fmt: skip


def _fmt_ms(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _styled(value: str, problems: frozenset[str] = frozenset()) -> Text:
    """Runtime statuses and generic outcomes in fixed colours; the app's problem outcomes
    (its view's PROBLEMS, e.g. rejected) in yellow; the app's other words plain."""
    return Text(value, style=STYLE.get(value) or ("yellow" if value in problems else ""))


def counts_table(index: InstanceIndex, hub: str) -> Table:
    view = index.overview()
    problems = index.view.problems
    table = Table(title=f"Task hub {hub}: {view['total']} instance(s)", title_justify="left")
    table.add_column("Runtime status")
    table.add_column("Count", justify="right")
    table.add_column("Outcome")
    table.add_column("Count", justify="right")
    statuses = sorted(view["byStatus"].items())
    outcomes = list(view["byOutcome"].items())
    for i in range(max(len(statuses), len(outcomes))):
        s = statuses[i] if i < len(statuses) else ("", "")
        o = outcomes[i] if i < len(outcomes) else ("", "")
        table.add_row(_styled(s[0]), str(s[1]), _styled(o[0], problems), str(o[1]))
    return table


def skips_table(counts: dict[str, int], width: int = 80) -> Table:
    """Blob versions the trigger started nothing for, by reason (devhost.blobtrigger.skips)."""
    columns = [
        Column("Reason", "reason", cells=[Text(escape(r)) for r in counts]),
        Column("Count", justify="right", cells=[Text(str(n)) for n in counts.values()]),
    ]
    return fitted_table(columns, width)


def instances_table(index: InstanceIndex, query: Query, width: int = 80) -> Table:
    """The newest instances in `width` columns (devhost.monitor.fit): ids shortened in the
    middle, subjects keep their ends, only the reason wraps; the creation time loses its
    seconds before a subject loses its middle."""
    page = index.select(query)
    items = page["items"]
    problems = index.view.problems

    def columns(seconds: bool) -> list[Column]:
        end = 19 if seconds else 16
        return [
            Column("Instance", "id", cells=[Text(escape(i["instanceId"])) for i in items]),
            # Text: a name like "[red]x" is shown as is
            Column(index.view.subject_label, "name",
                   cells=[Text(escape(i["subject"] or "")) for i in items]),
            Column("Status", cells=[_styled(i["runtimeStatus"]) for i in items]),
            Column("Outcome", cells=[_styled(i["outcome"], problems) for i in items]),
            Column("Reason", "reason", cells=[Text(escape(i["reason"] or "")) for i in items]),
            Column("Created",
                   cells=[Text(i["createdTime"][5:end].replace("T", " ")) for i in items]),
            Column("Duration", justify="right",
                   cells=[Text(_fmt_ms(i["durationMs"])) for i in items]),
        ]  # fmt: skip

    cols = columns(seconds=True)
    if any(size < c.natural() for c, size in zip(cols, widths(cols, width), strict=True)
           if c.kind != "reason"):  # fmt: skip
        cols = columns(seconds=False)
    caption = f"{len(items)} of {page['total']} matching, newest first; times in UTC"
    return fitted_table(cols, width, caption=caption)


async def _history(connection_string: str, hub: str, instance_id: str) -> dict[str, Any] | None:
    key = escape_key(instance_id).replace("'", "''")
    async with TableClient.from_connection_string(connection_string, f"{hub}Instances") as t:
        rows = [r async for r in t.query_entities(f"PartitionKey eq '{key}'")]
    if not rows:
        return None
    row = rows[0]
    events: list[dict[str, Any]] = []
    async with TableClient.from_connection_string(connection_string, f"{hub}History") as t:
        async for ev in t.query_entities(f"PartitionKey eq '{key}'"):
            if ev.get("RowKey") == "sentinel" or not ev.get("EventType"):
                continue
            stamp = ev.get("_Timestamp")
            events.append(
                {k: v for k, v in ev.items() if not k.startswith(("_", "odata", "Partition"))}
                | {"Timestamp": stamp.isoformat() if stamp is not None else None}
            )
    events.sort(key=lambda e: str(e.get("RowKey", "")))
    return {
        "instanceId": unescape_key(str(row["PartitionKey"])),
        "name": row.get("Name"),
        "runtimeStatus": row.get("RuntimeStatus"),
        "input": row.get("Input"),
        "output": row.get("Output"),
        "customStatus": row.get("CustomStatus"),
        "historyEvents": events,
    }


def timeline_table(status: dict[str, Any], width: int) -> Table:
    """One instance's history (its activity attempts and the waits between) in `width`."""
    columns = [Column("Offset", justify="right"), Column("Step", "name"),
               Column("Duration", justify="right"), Column("Result", "reason")]  # fmt: skip
    for e in build_timeline(status)["entries"]:
        step = e["label"] + (f" #{e['attempt']}" if e.get("attempt") else "")
        result = "failed: " + e["reason"] if e.get("reason") else ("ok" if e.get("ok") else "")
        cells = (_fmt_ms(e["startOffset"]), escape(step), _fmt_ms(e["durationMs"]),
                 escape(result))  # fmt: skip
        for col, cell in zip(columns, cells, strict=True):
            col.cells.append(Text(cell))
    return fitted_table(columns, width)


async def _print_instance(
    console: Console, cs: str, hub: str, instance_id: str, view: AppView
) -> int:
    status = await _history(cs, hub, instance_id)
    if status is None:
        console.print(Text(f"no instance {escape(instance_id)} in task hub {hub}"))
        return 1
    runtime = str(status["runtimeStatus"])
    d = view.describe(runtime, status["input"], status["output"], status["customStatus"])
    head = f"  {escape(status['name'])}  {runtime}  {escape(d.outcome)}"
    console.print(Text.assemble((escape(instance_id), "bold"), head))
    if d.subject:
        console.print(Text(f"  {view.subject_label.lower()}: {escape(d.subject)}"))
    if d.reason:
        console.print(Text(f"  reason: {escape(d.reason)}"))
    console.print(Text(f"  input:  {escape(status['input'])}"))
    console.print(Text(f"  output: {escape(status['output']) if runtime != 'Failed' else ''}"))
    if runtime == "Failed":
        console.print(Text(escape_lines(failure_text(status["output"]))))
    console.print(timeline_table(status, console.width))
    return 0


class InstanceScan(Protocol):
    async def scan(self, index: InstanceIndex, since: float | None) -> float | None: ...


async def watch_backlog(
    console: Console,
    source: InstanceScan,
    index: InstanceIndex,
    interval: float,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    settle: float = 5.0,
) -> dict[str, Any]:
    """Follow the backlog live (index.BacklogWatch) until it is done; returns its last state.

    `clock` is the wall clock the instances' times are in; tests inject one with `sleep`."""
    since: float | None = None
    follow = BacklogWatch(settle=max(settle, interval))
    fields = "{task.fields[rate]}/s  ETA {task.fields[eta]}  {task.fields[outcomes]}"
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
               TextColumn(fields))  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("waiting", total=None, rate="0", eta="—", outcomes="")
        while True:
            now = clock()  # before the scan: an instance created during it is new
            newest = await source.scan(index, since)
            if newest is not None:
                since = newest - 2.0
            items = list(index.items.values())
            first = follow.start is None
            b = follow.update(items, now)
            if first:  # says which backlog this is (and that the watch is under way)
                progress.console.print(_following(b, follow.start or now))
            counts = Counter(s.outcome for s in follow.batch(items))
            eta = b["etaSeconds"]
            progress.update(
                task,
                description="backlog" if b["total"] else "waiting",
                total=b["total"] or None,
                completed=b["done"],
                rate=f"{b['rate']:.1f}",
                eta="—" if eta is None else f"{eta:.0f} s",
                outcomes=" ".join(f"{k} {counts[k]}" for k in index.view.outcomes if counts[k]),
            )
            if b["finished"]:
                return b
            await sleep(interval)


def _following(b: dict[str, Any], start: float) -> Text:
    if b["active"]:
        since = time.strftime("%H:%M:%S", time.gmtime(start))
        return Text(f"Following the running backlog (since {since} UTC); Ctrl-C stops")
    return Text("Nothing running: waiting for new instances; Ctrl-C stops")


PIPED_WIDTH = 1000  # wider than any row (ids 36, reasons at most 300): nothing is shortened


def terminal() -> Console:
    """The console the CLI prints on: the terminal's width (tables fit it), or, piped or
    captured, one whole line per row, ids and reasons uncut, for a file or a grep."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, PIPED_WIDTH))
    return console


def restarted_table(restarted: Sequence[Any], verb: str, subject_label: str, width: int) -> Table:
    """`restart-failed`'s list (devhost.recovery.Restarted items) in `width` columns."""
    columns = [
        Column("Instance", "id", cells=[Text(escape(r.instance_id)) for r in restarted]),
        Column("Orchestration", cells=[Text(escape(r.name)) for r in restarted]),
        Column(subject_label, "name", cells=[Text(escape(r.subject or "?")) for r in restarted]),
        Column("Reason", "reason", cells=[Text(escape(r.reason or "")) for r in restarted]),
    ]
    return fitted_table(columns, width, title=f"{verb}:")


async def print_status(
    connection_string: str,
    hub: str,
    instance_id: str | None,
    top: int,
    *,
    status: str | None = None,
    outcome: str | None = None,
    watch: bool = False,
    interval: float = 2.0,
    view: AppView = GENERIC,
    host_id: str | None = None,
) -> int:
    console = terminal()
    if instance_id:
        return await _print_instance(console, connection_string, hub, instance_id, view)
    source = TableInstances(connection_string, hub)
    index = InstanceIndex(view)
    try:
        if watch:
            with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
                await watch_backlog(console, source, index, interval)
        else:
            await source.scan(index, None)
    finally:
        await source.close()
    console.print(counts_table(index, hub))
    if host_id:
        skipped = await skip_counts(connection_string, host_id)
        if skipped:  # a title of its own: a table's title wraps at the table's width
            total = sum(skipped.values())
            console.print(Text(f"Skipped by the blob trigger: {total} blob version(s)"))
            console.print(skips_table(skipped, console.width))
    query = Query(
        statuses=frozenset(s for s in (status or "").split(",") if s),
        outcomes=frozenset(o for o in (outcome or "").split(",") if o),
        size=top,
    )
    console.print(instances_table(index, query, console.width))
    return 0
