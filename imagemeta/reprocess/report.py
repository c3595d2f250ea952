"""Progress while it runs: a rich bar on a terminal, a plain line every few seconds elsewhere."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from imagemeta.reprocess.tally import Tally

PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("   -/s" if speed is None else f"{speed:6.1f}/s", style="progress.data.speed")


def detail(t: Tally) -> str:
    f = t.finished
    if t.dry_run:
        return f"would start {t.would_start}, stored {t.already_stored}"
    return (
        f"started {t.started} joined {t.joined} stored-before {t.already_stored} | "
        f"stored {f['stored'] + f['duplicate']} rejected {f['rejected']} failed {t.failed}"
    )


class Display:
    """done/total, rate and ETA: total is None (unknown) until the counting pass ends."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        self.live = self.console.is_terminal
        self._clock = time.monotonic
        self._last_plain = self._clock()
        self.progress = Progress(
            TextColumn("reprocess"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            console=self.console,
            disable=not self.live,
            speed_estimate_period=60,
        )
        self.task = self.progress.add_task("reprocess", total=None, detail="listing")

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def __call__(self, done: int, total: int | None, tally: Tally) -> None:
        self.progress.update(self.task, completed=done, total=total, detail=detail(tally))
        if not self.live and self._clock() - self._last_plain >= PLAIN_EVERY:
            self._last_plain = self._clock()
            of = "?" if total is None else str(total)
            self.console.print(f"reprocess: {done}/{of} done; {detail(tally)}", markup=False)
