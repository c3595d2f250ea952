"""An in-memory index of instance summaries: counts, backlog progress, throughput, and the
filtered/sorted/paged instance list, fast enough to recompute on every request at 10,000+."""

from __future__ import annotations

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


def backlog(items: list[Summary], now: float, idle_gap: float = 30.0) -> dict[str, Any]:
    """The current batch: instances since the last time nothing was running for `idle_gap`
    seconds. Done/total, rate over the last minute (or the whole batch) and ETA."""
    if not items:
        return {"total": 0, "done": 0, "active": 0, "rate": 0.0, "etaSeconds": None}
    spans = sorted(
        ((s.created, now if s.active else s.updated, s) for s in items), key=lambda x: x[0]
    )
    start_index = 0
    reach = spans[0][1]
    for i in range(1, len(spans)):
        if spans[i][0] > reach + idle_gap:
            start_index = i
        reach = max(reach, spans[i][1])
    batch = [s for _, _, s in spans[start_index:]]
    start = spans[start_index][0]
    done_items = [s for s in batch if not s.active]
    active = len(batch) - len(done_items)
    window = 60.0
    recent = sum(1 for s in done_items if s.updated >= now - window)
    elapsed = max(1e-3, (now if active else max(s.updated for s in batch)) - start)
    rate = recent / window if active and recent else len(done_items) / elapsed
    return {
        "start": _iso(start),
        "total": len(batch),
        "done": len(done_items),
        "active": active,
        "rate": round(rate, 2),
        "etaSeconds": round(active / rate, 1) if active and rate > 0 else None,
    }


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
