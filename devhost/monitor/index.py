"""An in-memory index of instance summaries: counts, backlog progress, throughput, and the
filtered/sorted/paged instance list, fast enough to recompute on every request at 10,000+."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from devhost.monitor.appview import GENERIC, AppView
from devhost.monitor.payloads import ACTIVE_STATUSES

SORT_KEYS = ("created", "updated", "duration", "subject", "status", "outcome")


@dataclass(slots=True)
class Summary:
    instance_id: str
    name: str
    status: str
    created: float  # epoch seconds
    updated: float
    subject: str | None
    outcome: str
    reason: str | None

    @classmethod
    def build(
        cls,
        *,
        view: AppView = GENERIC,
        instance_id: str,
        name: str,
        status: str,
        created: float,
        updated: float,
        input_value: Any,
        output_value: Any,
    ) -> Summary:
        d = view.describe(status, input_value, output_value)
        return cls(instance_id, name, status, created, updated, d.subject, d.outcome, d.reason)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def duration(self, now: float) -> float:
        return (now if self.active else self.updated) - self.created

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "name": self.name,
            "runtimeStatus": self.status,
            "createdTime": _iso(self.created),
            "lastUpdatedTime": _iso(self.updated),
            "subject": self.subject,
            "outcome": self.outcome,
            "reason": self.reason,
            "durationMs": round(self.duration(now) * 1000),
        }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


@dataclass
class Query:
    statuses: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    created_from: float | None = None
    created_to: float | None = None
    text: str = ""
    sort: str = "created"
    descending: bool = True
    page: int = 0
    size: int = 50


class InstanceIndex:
    def __init__(self, view: AppView = GENERIC) -> None:
        self.view = view
        self.items: dict[str, Summary] = {}

    def upsert(self, summary: Summary) -> None:
        self.items[summary.instance_id] = summary

    def remove(self, instance_id: str) -> None:
        self.items.pop(instance_id, None)

    def __len__(self) -> int:
        return len(self.items)

    # --- list -----------------------------------------------------------------------------
    def select(self, q: Query, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        text = q.text.lower()
        rows = [
            s
            for s in self.items.values()
            if (not q.statuses or s.status in q.statuses)
            and (not q.outcomes or s.outcome in q.outcomes)
            and (q.created_from is None or s.created >= q.created_from)
            and (q.created_to is None or s.created <= q.created_to)
            and (not text or text in (s.subject or "").lower() or text in s.instance_id.lower())
        ]
        key: Any
        if q.sort == "duration":
            key = lambda s: s.duration(now)  # noqa: E731
        elif q.sort == "updated":
            key = lambda s: s.updated  # noqa: E731
        elif q.sort in ("subject", "status", "outcome"):
            attr = q.sort
            key = lambda s: (getattr(s, attr) or "", s.created)  # noqa: E731
        else:
            key = lambda s: s.created  # noqa: E731
        rows.sort(key=key, reverse=q.descending)
        size = max(1, min(q.size, 500))
        start = max(0, q.page) * size
        return {
            "total": len(rows),
            "page": max(0, q.page),
            "size": size,
            "items": [s.to_json(now) for s in rows[start : start + size]],
            "outcomes": list(self.view.outcomes),
            "subjectLabel": self.view.subject_label,
        }

    def failed(self) -> list[Summary]:
        return sorted(
            (s for s in self.items.values() if s.status == "Failed"), key=lambda s: s.created
        )

    # --- overview -------------------------------------------------------------------------
    def overview(self, now: float | None = None, buckets: int = 60) -> dict[str, Any]:
        now = time.time() if now is None else now
        items = list(self.items.values())
        by_status = Counter(s.status for s in items)
        by_outcome = Counter(s.outcome for s in items)
        latest_failures = sorted(
            (s for s in items if s.outcome in self.view.problems),
            key=lambda s: s.updated,
            reverse=True,
        )[:10]
        return {
            "total": len(items),
            "byStatus": dict(by_status),
            "byOutcome": {k: by_outcome.get(k, 0) for k in self.view.outcomes}
            | {k: v for k, v in by_outcome.items() if k not in self.view.outcomes},
            "outcomes": list(self.view.outcomes),
            "subjectLabel": self.view.subject_label,
            "backlog": backlog(items, now),
            "throughput": throughput(items, now, buckets),
            "latestFailures": [s.to_json(now) for s in latest_failures],
        }


def batch_start(items: list[Summary], now: float, idle_gap: float = 30.0) -> float | None:
    """Creation time of the current batch's first instance: the batch runs from the last time
    nothing was running for `idle_gap` seconds. None without instances."""
    if not items:
        return None
    spans = sorted((s.created, now if s.active else s.updated) for s in items)
    start, reach = spans[0]
    for created, end in spans[1:]:
        if created > reach + idle_gap:
            start = created
        reach = max(reach, end)
    return start


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """How long at least one of the spans was open (the length of their union): the time a
    batch was actually being worked on, without the idle gaps between its uploads."""
    total = 0.0
    open_start: float | None = None
    open_end = 0.0
    for start, end in sorted(spans):
        if open_start is None or start > open_end:
            if open_start is not None:
                total += open_end - open_start
            open_start, open_end = start, end
        else:
            open_end = max(open_end, end)
    if open_start is not None:
        total += open_end - open_start
    return total


def progress(batch: list[Summary], now: float, start: float) -> dict[str, Any]:
    """Done/total of `batch`, its rate over the time it was active (an idle minute before
    or inside it does not dilute the rate) and the ETA at that rate."""
    done = sum(1 for s in batch if not s.active)
    active = len(batch) - done
    busy = busy_seconds([(s.created, now if s.active else s.updated) for s in batch])
    rate = done / busy if done and busy > 0 else 0.0
    return {
        "start": _iso(start),
        "total": len(batch),
        "done": done,
        "active": active,
        "rate": round(rate, 2),
        "busySeconds": round(busy, 1),
        "etaSeconds": round(active / rate, 1) if active and rate > 0 else None,
    }


def backlog(items: list[Summary], now: float, idle_gap: float = 30.0) -> dict[str, Any]:
    """The current batch (see `batch_start`): done/total, rate over its active time, ETA."""
    start = batch_start(items, now, idle_gap)
    if start is None:
        return {"total": 0, "done": 0, "active": 0, "rate": 0.0, "etaSeconds": None}
    return progress([s for s in items if s.created >= start], now, start)


class BacklogWatch:
    """What `devhost status --watch` follows: the batch running when the watch starts, or,
    when nothing runs then, what happens from then on; instances started (or restarted)
    later extend it. What had finished before the watch started, and has not changed since,
    is never part of it, whatever its creation time says (an instance created just before the
    first poll may not be in the table yet at that poll). It is finished once all of it has
    been done for `settle` seconds (a trigger starts an upload's instances over several polls,
    so a moment with nothing running is not yet the end). Times are the caller's clock, so
    tests drive it without sleeping."""

    def __init__(self, settle: float = 5.0, idle_gap: float = 30.0) -> None:
        self.settle = settle
        self.idle_gap = idle_gap
        self.start: float | None = None
        self._running_from = math.inf  # the running batch's first creation time
        self._done_before: dict[str, float] = {}  # finished at the start: id -> last update
        self._quiet_since: float | None = None
        self._seen = 0

    def update(self, items: list[Summary], now: float) -> dict[str, Any]:
        if self.start is None:
            current = batch_start(items, now, self.idle_gap)
            if current is not None and any(s.active for s in items):
                self._running_from = current
            self._done_before = {s.instance_id: s.updated for s in items if not s.active}
            self.start = min(self._running_from, now)
        b = progress(self.batch(items), now, self.start)
        if b["active"] or not b["total"] or b["total"] != self._seen:
            self._quiet_since = None if b["active"] or not b["total"] else now
        elif self._quiet_since is None:
            self._quiet_since = now
        self._seen = b["total"]
        b["finished"] = self._quiet_since is not None and now - self._quiet_since >= self.settle
        return b

    def batch(self, items: list[Summary]) -> list[Summary]:
        """The instances followed (after the first `update`)."""
        return [
            s for s in items
            if s.created >= self._running_from
            or self._done_before.get(s.instance_id) != s.updated
        ]  # fmt: skip


def throughput(items: list[Summary], now: float, buckets: int) -> dict[str, Any]:
    """Finished instances per bucket over the span of the data (bucket ≥ 1 s), by outcome."""
    finished = [s for s in items if not s.active]
    if not finished:
        return {"bucketSeconds": 60, "start": _iso(now), "series": {}}
    first = min(s.updated for s in finished)
    end = max(now, first + 1)
    span = end - first
    step = max(1.0, span / buckets)
    for nice in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if nice >= step:
            step = float(nice)
            break
    origin = end - step * buckets
    series: dict[str, list[int]] = {}
    for s in finished:
        if s.updated < origin:
            continue
        slot = min(buckets - 1, int((s.updated - origin) // step))
        series.setdefault(s.outcome, [0] * buckets)[slot] += 1
    return {"bucketSeconds": step, "start": _iso(origin), "series": series}
