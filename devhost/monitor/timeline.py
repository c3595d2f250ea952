"""An instance's history (the status API's `historyEvents`) as a timeline: each activity
attempt with its duration and outcome, the retry delays between attempts, start and end.

The real extension merges TaskScheduled into TaskCompleted/TaskFailed (`FunctionName`,
`ScheduledTime`) and drops EventId/IsPlayed; older devhost builds also list TaskScheduled
events with ids, which are paired here with their completions by `TaskScheduledId`.

After an activity's last failed attempt the runtime's retry loop still creates one timer that
fires at once (DurableTask.Core RetryInterceptor.cs, kept "for back-compat"; the SDK waits for
it, see devhost/durabletask/core/decisions.py). That timer is no wait: it is shown as the
point where the retries ran out, not as "retry delay 0 ms".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devhost.monitor.payloads import parse_payload


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 time as the API writes it (up to 7 fractional digits)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # .NET writes 7 fractional digits; fromisoformat wants at most 6
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.now().astimezone().tzinfo).astimezone()
    return moment.timestamp()


def history_of(status: dict[str, Any]) -> list[dict[str, Any]]:
    events = status.get("historyEvents")
    if not isinstance(events, list):
        events = status.get("history")
    return [e for e in events or [] if isinstance(e, dict)]


def _entry(kind: str, label: str, start: float | None, end: float | None) -> dict[str, Any]:
    both = start is not None and end is not None
    return {
        "kind": kind,
        "label": label,
        "start": start,
        "end": end,
        "durationMs": round((end - start) * 1000) if both else None,  # type: ignore[operator]
    }


class _Builder:
    def __init__(self) -> None:
        self.scheduled: dict[Any, dict[str, Any]] = {}
        self.attempts: dict[str, int] = {}
        self.timers: list[dict[str, Any]] = []
        self.out: list[dict[str, Any]] = []

    def add(self, ev: dict[str, Any]) -> None:
        kind = str(ev.get("EventType", ""))
        ts = parse_time(ev.get("Timestamp"))
        if kind == "ExecutionStarted":
            name = ev.get("FunctionName") or ev.get("Name") or ""
            self.out.append(_entry("start", f"Started {name}".strip(), ts, ts))
        elif kind == "TaskScheduled":
            self.scheduled[ev.get("EventId")] = ev
        elif kind in ("TaskCompleted", "TaskFailed"):
            self.task(ev, kind, ts)
        elif kind == "TimerCreated":
            self.timers.append(ev)
        elif kind == "TimerFired":
            created = next((t for t in self.timers if t.get("FireAt") == ev.get("FireAt")), None)
            start = parse_time(created.get("Timestamp")) if created else None
            fire_at = parse_time(ev.get("FireAt"))
            # The delay asked for runs to FireAt; the event's own time is when it was handled.
            end = fire_at if fire_at is not None and (start is None or fire_at >= start) else ts
            self.out.append(_entry("timer", "retry delay", start, end))
        elif kind == "EventRaised":
            entry = _entry("event", f"Event {ev.get('Name', '')}", ts, ts)
            entry["result"] = parse_payload(ev.get("Input"))
            self.out.append(entry)
        elif kind in ("ExecutionCompleted", "ExecutionTerminated", "ExecutionFailed"):
            label = str(ev.get("OrchestrationStatus") or kind.removeprefix("Execution"))
            entry = _entry("end", label, ts, ts)
            failure = ev.get("FailureDetails")
            if isinstance(failure, dict):
                entry["reason"] = str(failure.get("ErrorMessage") or "")
                entry["details"] = str(failure.get("StackTrace") or "")
            self.out.append(entry)

    def task(self, ev: dict[str, Any], kind: str, ts: float | None) -> None:
        sched = self.scheduled.get(ev.get("TaskScheduledId"), {})
        name = str(ev.get("FunctionName") or sched.get("Name") or "activity")
        start = parse_time(ev.get("ScheduledTime")) or parse_time(sched.get("Timestamp"))
        self.attempts[name] = self.attempts.get(name, 0) + 1
        entry = _entry("activity", name, start, ts)
        entry["attempt"] = self.attempts[name]
        entry["ok"] = kind == "TaskCompleted"
        if kind == "TaskCompleted":
            entry["result"] = parse_payload(ev.get("Result"))
        else:
            entry["reason"] = str(ev.get("Reason") or "")
            entry["details"] = str(ev.get("Details") or "")
        self.out.append(entry)


def _mark_exhausted(entries: list[dict[str, Any]]) -> None:
    """A zero-length timer is not a wait: after a failed attempt that no later attempt of the
    same activity follows, it is where the retries ran out; anywhere else, a timer that fired
    at once."""
    for i, e in enumerate(entries):
        if e["kind"] != "timer" or e["durationMs"] != 0:
            continue
        before = entries[i - 1] if i else {}
        name = before.get("label")
        retried = any(
            later["kind"] == "activity" and later["label"] == name for later in entries[i + 1 :]
        )
        if before.get("kind") == "activity" and not before.get("ok") and not retried:
            attempts = before.get("attempt", 1)
            e["kind"] = "exhausted"
            e["label"] = f"{name}: no retry left after {attempts} attempt{'s' * (attempts != 1)}"
        else:
            e["kind"] = "point"
            e["label"] = "timer fired at once"
        e["durationMs"] = None


def build_timeline(status: dict[str, Any]) -> dict[str, Any]:
    """{"spanMs", "entries": [{kind, label, startOffset, endOffset, durationMs, ...}]}."""
    builder = _Builder()
    for ev in history_of(status):
        builder.add(ev)
    entries = builder.out
    _mark_exhausted(entries)
    times = [t for e in entries for t in (e["start"], e["end"]) if t is not None]
    origin = min(times) if times else 0.0
    for e in entries:
        for key in ("start", "end"):
            value = e.pop(key)
            e[key + "Offset"] = None if value is None else round((value - origin) * 1000)
    span = (max(times) - origin) if times else 0.0
    return {"spanMs": round(span * 1000), "entries": entries}
