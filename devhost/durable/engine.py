"""The durable engine: dispatches control and work-item queues, runs orchestrator episodes.

Checkpoint order per instance (what makes SIGKILL at any moment safe): send the outgoing
messages (activities, timers, sub-orchestration starts, parent completions), then write the
new history rows and the instance row, then delete the consumed messages. A crash before the
deletes replays the same messages; duplicates are dropped by message id and by task id, so
only activities can run twice (at-least-once, as in Durable Functions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from devhost.contracts import FunctionInvocationError, FunctionRunner
from devhost.durable.events import (
    FAILURES,
    EventType,
    event,
    iso,
    parse_iso,
    utcnow,
)
from devhost.durable.instance import ACTIVE, TERMINAL, Instance, completion_key
from devhost.durable.names import unescape_key
from devhost.durable.store import Received, TaskHubStore

log = logging.getLogger("devhost.durable")

OUT_OF_PROC = "$OutOfProcData$:"
ID_ACTIONS = {0, 1, 2, 3, 5, 7, 8}  # action types that take a task id from the SDK's counter
# Busy-queue batching window (seconds); DEVHOST_BATCH_WINDOW=0 turns it off.
BATCH_WINDOW = float(os.environ.get("DEVHOST_BATCH_WINDOW", "0.1"))
UNSUPPORTED = {7: "call_entity", 8: "call_http", 9: "signal_entity"}


class OrchestrationConflict(Exception):
    """An instance with this id is still Pending/Running (the real extension refuses too)."""


class UnknownOrchestrator(Exception):
    pass


@dataclass
class Outgoing:
    queue: str
    body: dict[str, Any]
    delay: float = 0


@dataclass
class Checkpoint:
    messages: list[Outgoing] = field(default_factory=list)
    starts: list[Instance] = field(default_factory=list)  # sub-orchestrations / continue-as-new


@dataclass
class _Backoff:
    """Queue polling pace.

    Idle: 50 ms after work, doubling up to the poll interval. Busy: after a receive that
    returned some messages but not a full batch, the next receive waits until `window` has
    passed since it, so it collects several messages: a receive costs a storage round trip
    (and emulator CPU) whether it returns one message or 32.
    """

    ceiling: float
    idle: float = 0.05
    window: float = BATCH_WINDOW
    partial_at: float | None = None

    def reset(self) -> None:
        self.idle = 0.05

    def next(self) -> float:
        delay, self.idle = self.idle, min(self.idle * 2, self.ceiling)
        return delay

    def received(self, got: int, asked: int) -> None:
        self.partial_at = time.monotonic() if 0 < got < asked else None

    def hold(self) -> float:
        """Seconds to wait before the next receive (0 unless the last batch was partial)."""
        if self.partial_at is None:
            return 0.0
        return max(0.0, self.window - (time.monotonic() - self.partial_at))


def _flatten(actions: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(a: dict[str, Any]) -> None:
        kind = a.get("actionType")
        if kind in (11, 12):
            for child in a.get("compoundActions") or []:
                walk(child)
        elif kind in ID_ACTIONS:
            out.append(a)

    for group in actions or []:
        for a in group if isinstance(group, list) else [group]:
            walk(a)
    return out


def _continue_action(actions: list[Any]) -> dict[str, Any] | None:
    for group in actions or []:
        for a in group if isinstance(group, list) else [group]:
            if a.get("actionType") == 4:
                return a
    return None


class DurableEngine:
    def __init__(
        self,
        connection_string: str,
        hub_name: str,
        runner: FunctionRunner,
        *,
        poll_interval: float = 1.0,
        activity_concurrency: int = 8,
        control_visibility: int = 30,
        activity_visibility: int = 60,
    ):
        self.hub = hub_name
        self.store = TaskHubStore(connection_string, hub_name)
        self.runner = runner
        self.poll_interval = poll_interval
        self.activity_concurrency = activity_concurrency
        self.control_visibility = control_visibility
        self.activity_visibility = activity_visibility
        self._cache: dict[str, Instance] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._wake: dict[str, asyncio.Event] = {}
        # Set in activity worker processes: tells the main host that a control queue has work.
        self.on_remote_work: Callable[[str], Awaitable[None]] | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, *, orchestrations: bool = True, activities: bool = True) -> None:
        """Run the control-queue dispatchers and/or the work-item dispatcher (activity worker
        processes run only the latter, like extra language-worker processes)."""
        await self.store.create()
        if orchestrations:
            await self._recover_pending()
            self._tasks.append(asyncio.create_task(self._recover_pending_loop()))
            for name in self.store.control_names:
                self._wake[name] = asyncio.Event()
                self._tasks.append(asyncio.create_task(self._control_loop(name)))
        if activities:
            self._wake[self.store.workitems_name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._workitem_loop()))

    def wake(self, queue: str | None = None) -> None:
        """New work was sent by another process: poll now instead of after the back-off."""
        for name, ev in self._wake.items():
            if queue is None or name == queue:
                ev.set()

    async def stop(self) -> None:
        self._stopping.set()
        for ev in self._wake.values():
            ev.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.store.close()

    async def _recover_pending(self, older_than: float = 0) -> None:
        """Re-send ExecutionStarted for Pending instances: a crash may have lost the message
        between writing the row and sending it (duplicates are dropped by execution id)."""
        token = None
        while True:
            rows, token = await self.store.query_instances("RuntimeStatus eq 'Pending'", 500, token)
            for row in rows:
                inst = Instance.from_row(unescape_key(row["PartitionKey"]), row)
                if (utcnow() - inst.updated).total_seconds() >= older_than:
                    await self._send_start(inst)
            if not token:
                return

    async def _recover_pending_loop(self, every: float = 30.0) -> None:
        """A start whose message send failed (storage outage) leaves a Pending row and no
        message; re-send starts for rows still Pending after a while (duplicates are dropped)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), every)
            try:
                await self._recover_pending(older_than=every)
            except Exception as exc:  # storage still down: try again next round
                log.warning("Pending-instance recovery failed: %s", exc)

    def _lock(self, instance_id: str) -> asyncio.Lock:
        lock = self._locks.get(instance_id)
        if lock is None:
            lock = self._locks[instance_id] = asyncio.Lock()
        return lock

    async def _sleep(self, queue: str, seconds: float) -> None:
        wake = self._wake[queue]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()

    async def _poll(
        self, queue: str, count: int, visibility: int, backoff: _Backoff
    ) -> list[Received]:
        """One receive; sleeps (woken early by local sends) when the queue is empty or down."""
        hold = backoff.hold()
        if hold > 0:
            await asyncio.sleep(hold)
        try:
            recs = await self.store.receive(queue, count, visibility)
        except Exception as exc:  # storage outage: keep trying, slower
            log.warning("Queue %s unavailable: %s", queue, exc)
            await self._sleep(queue, 2.0)
            return []
        backoff.received(len(recs), count)
        if recs:
            backoff.reset()
        else:
            await self._sleep(queue, backoff.next())
        return recs

    def _poke(self, queue: str) -> None:
        if queue in self._wake:
            self._wake[queue].set()

    async def _send(self, out: Outgoing) -> None:
        await self.store.send(out.queue, out.body, out.delay)
        if out.delay <= 0:
            if out.queue in self._wake:
                self._poke(out.queue)
            elif self.on_remote_work is not None:
                await self.on_remote_work(out.queue)

    # --- client operations (HTTP API) ---------------------------------------------------
    async def start_new(
        self,
        name: str,
        instance_id: str | None,
        input_text: str | None,
        parent: dict[str, Any] | None = None,
    ) -> str:
        if self.runner.trigger_type(name) != "orchestrationTrigger":
            raise UnknownOrchestrator(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function. Additional info: the following are the known orchestrator "
                "functions: " + ", ".join(self._orchestrators())
            )
        instance_id = instance_id or uuid.uuid4().hex
        async with self._lock(instance_id):
            inst = Instance(instance_id, name, uuid.uuid4().hex, input=input_text, parent=parent)
            # A new id costs one insert; only an existing row needs the read and the checks.
            if not await self.store.insert_instance(instance_id, inst.row()):
                row = await self.store.read_instance(instance_id)
                if row is not None and row.get("RuntimeStatus") in ACTIVE:
                    raise OrchestrationConflict(
                        f"An Orchestration instance with the status {row['RuntimeStatus']} "
                        f"already exists."
                    )
                if row is not None:
                    await self.store.delete_history(instance_id)
                await self.store.write_instance(instance_id, inst.row())
            # This process owns the orchestrations: the first episode needs no reads.
            self._cache[instance_id] = inst
        await self._send_start(inst)
        return instance_id

    def _orchestrators(self) -> list[str]:
        names = getattr(self.runner, "function_names", lambda: [])()
        return [n for n in names if self.runner.trigger_type(n) == "orchestrationTrigger"]

    async def _send_start(self, inst: Instance) -> None:
        body = {
            "id": uuid.uuid4().hex,
            "instanceId": inst.instance_id,
            "executionId": inst.execution_id,
            "event": event(
                EventType.ExecutionStarted,
                Name=inst.name,
                Input=inst.input,
                Version="",
                ParentInstanceId=(inst.parent or {}).get("instanceId"),
            ),
        }
        await self._send(Outgoing(self.store.control_for(inst.instance_id), body))

    async def read(self, instance_id: str, history: bool = False) -> Instance | None:
        row = await self.store.read_instance(instance_id)
        if row is None:
            return None
        inst = Instance.from_row(instance_id, row)
        if history:
            _, inst.history = await self.store.read_history(instance_id)
        return inst

    async def send_event(self, instance_id: str, ev: dict[str, Any]) -> None:
        body = {"id": uuid.uuid4().hex, "instanceId": instance_id, "executionId": None, "event": ev}
        await self._send(Outgoing(self.store.control_for(instance_id), body))

    async def purge(self, instance_id: str) -> int:
        async with self._lock(instance_id):
            row = await self.store.read_instance(instance_id)
            if row is None or row.get("RuntimeStatus") not in TERMINAL:
                return 0
            await self.store.delete_history(instance_id)
            await self.store.delete_instance(instance_id)
            self._cache.pop(instance_id, None)
            return 1

    # --- control queues -----------------------------------------------------------------
    async def _control_loop(self, queue: str) -> None:
        poll = _Backoff(self.poll_interval)
        while not self._stopping.is_set():
            recs = await self._poll(queue, 32, self.control_visibility, poll)
            if not recs:
                continue
            groups: dict[str, list[Received]] = {}
            for rec in recs:
                groups.setdefault(str(rec.body.get("instanceId")), []).append(rec)
            await asyncio.gather(*(self._process_safely(i, g) for i, g in groups.items()))

    async def _process_safely(self, instance_id: str, recs: list[Received]) -> None:
        try:
            async with self._lock(instance_id):
                await self._process(instance_id, recs)
        except Exception as exc:  # storage fault: the messages reappear and are retried
            self._cache.pop(instance_id, None)
            log.warning("Processing %s failed (will retry): %s", instance_id, exc, exc_info=True)

    async def _load(self, instance_id: str) -> Instance | None:
        cached = self._cache.get(instance_id)
        if cached is not None:
            return cached
        row = await self.store.read_instance(instance_id)
        if row is None:
            return None
        inst = Instance.from_row(instance_id, row)
        execution, history = await self.store.read_history(instance_id)
        if execution is not None and execution != inst.execution_id:
            # An earlier execution's rows whose delete was interrupted (restart or
            # continue-as-new killed mid-way): the new execution's rows start at 0.
            await self.store.delete_history(instance_id)
        elif execution == inst.execution_id:
            inst.history = history
            inst.persisted = len(history)
            last = history[-1] if history else None
            if (
                last
                and last["EventType"] == EventType.ExecutionCompleted
                and inst.status not in TERMINAL
            ):
                # Killed between the history write and the row write: finish the row now.
                inst.status = str(last.get("OrchestrationStatus", "Completed"))
                inst.output = last.get("Result")
                inst.completed = parse_iso(last["Timestamp"])
                await self.store.write_instance(instance_id, inst.row())
            elif last and inst.status == "Pending":
                # Killed between the first episode's history write and its row write: it
                # has started, so a re-sent ExecutionStarted is a duplicate, not a restart.
                inst.status = "Running"
                await self.store.update_instance(instance_id, inst.row())
        return inst

    async def _process(self, instance_id: str, recs: list[Received]) -> None:
        inst = await self._load(instance_id)
        done: list[Received] = []
        deferred: list[Received] = []
        new_events: list[dict[str, Any]] = []
        seen = {e.get("MessageId") for e in inst.history} if inst else set()
        completed = inst.completed_keys() if inst else set()
        for rec in recs:
            verdict = self._classify(inst, rec.body, seen, completed)
            if verdict == "defer":
                deferred.append(rec)
                continue
            if verdict == "early":  # queue visibility is whole seconds (and capped)
                due = parse_iso(rec.body["event"]["FireAt"])
                await self._send(Outgoing(rec.queue, rec.body, (due - utcnow()).total_seconds()))
            elif verdict == "event":
                new_events.append({**rec.body["event"], "MessageId": rec.body["id"]})
            done.append(rec)

        cp = Checkpoint()
        if inst is not None and new_events:
            await self._run_episodes(inst, new_events, cp)
            await asyncio.gather(*(self._send(out) for out in cp.messages))
            for child in cp.starts:
                if child.instance_id == inst.instance_id:
                    await self._continue_as_new(inst, child)
                else:
                    await self._start_child(child)
            if inst.status != "ContinuedAsNew":
                await self._persist(inst)
        for rec in deferred:
            with contextlib.suppress(Exception):
                await self.store.hide(rec, 1)
        await asyncio.gather(*(self.store.delete(rec) for rec in done))

    @staticmethod
    def _classify(  # noqa: PLR0911
        inst: Instance | None,
        body: dict[str, Any],
        seen: set[Any],
        completed: set[tuple[str, int]],
    ) -> str:
        """'event' (apply it), 'done' (drop it), 'defer' (later) or 'early' (timer not due)."""
        ev = body.get("event")
        if not isinstance(ev, dict) or body.get("id") in seen:
            return "done"
        kind = EventType(ev["EventType"])
        if kind is EventType.TimerFired and ev.get("FireAt") and parse_iso(ev["FireAt"]) > utcnow():
            return "early"
        if kind is EventType.ExecutionStarted:
            if (
                inst is not None
                and inst.execution_id == body.get("executionId")
                and (inst.status == "Pending")
            ):
                inst.history, inst.persisted, inst.status = [], 0, "Running"
                seen.add(body["id"])
                return "event"
            return "done"
        if inst is None or inst.status in TERMINAL:
            return "done"
        if inst.status == "Pending":
            return "defer"  # arrived before its ExecutionStarted
        execution = body.get("executionId")
        if execution and execution != inst.execution_id:
            return "done"  # for an execution that no longer exists
        key = completion_key(ev)
        if key is not None and key in completed:
            return "done"  # duplicate completion (an activity ran twice)
        if kind is EventType.ExecutionSuspended:
            inst.status = "Suspended"
        elif kind is EventType.ExecutionResumed:
            inst.status = "Running"
        elif inst.status == "Suspended" and kind is not EventType.ExecutionTerminated:
            return "defer"
        if key is not None:
            completed.add(key)
        seen.add(body["id"])
        return "event"

    async def _persist(self, inst: Instance) -> None:
        fresh = inst.history[inst.persisted :]
        if fresh:
            await self.store.append_history(
                inst.instance_id, inst.execution_id, inst.persisted, fresh
            )
            inst.persisted = len(inst.history)
        inst.updated = utcnow()
        await self.store.update_instance(inst.instance_id, inst.row())
        if inst.status in TERMINAL:
            self._cache.pop(inst.instance_id, None)
        else:
            self._cache[inst.instance_id] = inst

    async def _start_child(self, child: Instance) -> None:
        """Start a sub-orchestration unless a replayed checkpoint already started it."""
        row = await self.store.read_instance(child.instance_id)
        parent = child.parent or {}
        if row is not None and (
            row.get("ParentInstanceId") == parent.get("instanceId")
            and row.get("ParentExecutionId") == parent.get("executionId")
            and row.get("ParentTaskScheduledId") == parent.get("taskScheduledId")
        ):
            return
        if row is not None and row.get("RuntimeStatus") in ACTIVE:
            log.warning(
                "Sub-orchestration id %s is already running; not restarted", child.instance_id
            )
            return
        if row is not None:
            await self.store.delete_history(child.instance_id)
        self._cache.pop(child.instance_id, None)
        await self.store.write_instance(child.instance_id, child.row())
        await self._send_start(child)

    async def _continue_as_new(self, inst: Instance, nxt: Instance) -> None:
        """Row first (Pending, new execution), then drop the old history, then the start."""
        self._cache.pop(inst.instance_id, None)
        await self.store.write_instance(nxt.instance_id, nxt.row())
        await self.store.delete_history(nxt.instance_id)
        await self._send_start(nxt)

    # --- episodes -----------------------------------------------------------------------
    def _segments(self, inst: Instance, events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Retry-related events go alone: the SDK allocates their follow-up ids in history
        order, which the host can only mirror one such event at a time."""
        out: list[list[dict[str, Any]]] = []
        for ev in events:
            if self._retry_source(inst, ev) is not None:
                out.append([ev])
            elif out and not any(self._retry_source(inst, e) for e in out[-1]):
                out[-1].append(ev)
            else:
                out.append([ev])
        return out

    @staticmethod
    def _retry_source(inst: Instance, ev: dict[str, Any]) -> dict[str, Any] | None:
        kind = EventType(ev["EventType"])
        if kind in FAILURES:
            sched = inst.scheduled(int(ev.get("TaskScheduledId", -1)))
        elif kind is EventType.TimerFired:
            timer = inst.scheduled(int(ev.get("TimerId", -1)))
            sched = (
                inst.scheduled(int(timer["RetryFor"])) if timer and "RetryFor" in timer else None
            )
        else:
            return None
        return sched if sched is not None and "RetryMax" in sched else None

    async def _run_episodes(
        self, inst: Instance, events: list[dict[str, Any]], cp: Checkpoint
    ) -> None:
        for segment in self._segments(inst, events):
            if inst.status in TERMINAL:
                break
            terminate = next(
                (e for e in segment if e["EventType"] == EventType.ExecutionTerminated), None
            )
            if terminate is not None:
                inst.history.extend(segment)
                self._finish(inst, "Terminated", json.dumps(terminate.get("Input")), cp)
                break
            await self._episode(inst, segment, cp)

    async def _episode(self, inst: Instance, new: list[dict[str, Any]], cp: Checkpoint) -> None:
        started = event(EventType.OrchestratorStarted)
        followups: list[dict[str, Any]] = []
        if len(new) == 1:
            followups = self._retry_followups(inst, new[0], cp)
        old = [{**e, "IsPlayed": True} for e in inst.history]
        ctx = {
            "history": [*old, started, *new],
            "instanceId": inst.instance_id,
            "input": inst.input,
            "isReplaying": False,
            "parentInstanceId": inst.parent["instanceId"] if inst.parent else None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
        inst.history.extend([started, *new, *followups])
        error: str | None = None
        try:
            reply = json.loads(await self.runner.run_orchestrator(inst.name, json.dumps(ctx)))
        except FunctionInvocationError as exc:
            reply, error = _failure_state(exc)
        if not isinstance(reply, dict):
            reply = {}
        if "customStatus" in reply:
            inst.custom_status = json.dumps(reply["customStatus"])
        actions = reply.get("actions") or []
        if error is None:
            error = self._schedule(inst, _flatten(actions), cp)
        inst.history.append(event(EventType.OrchestratorCompleted))
        if error is not None:
            self._finish(inst, "Failed", json.dumps(error), cp, details=error)
        elif reply.get("isDone"):
            can = _continue_action(actions)
            if can is not None:
                self._continue(inst, can, cp)
            else:
                self._finish(inst, "Completed", json.dumps(reply.get("output")), cp)

    def _retry_followups(
        self, inst: Instance, ev: dict[str, Any], cp: Checkpoint
    ) -> list[dict[str, Any]]:
        sched = self._retry_source(inst, ev)
        if sched is None:
            return []
        kind = EventType(ev["EventType"])
        attempt, limit = int(sched.get("Attempt", 1)), int(sched["RetryMax"])
        if kind in FAILURES:
            delay = int(sched["RetryIntervalMs"]) / 1000 if attempt < limit else 0.0
            timer_id = inst.next_id
            fire_at = utcnow() + timedelta(seconds=delay)
            timer = event(
                EventType.TimerCreated, timer_id, FireAt=iso(fire_at), RetryFor=sched["EventId"]
            )
            cp.messages.append(self._timer_message(inst, timer_id, fire_at, delay))
            return [timer]
        if attempt >= limit:
            return []
        task_id = inst.next_id
        nxt = {k: v for k, v in sched.items() if k not in ("ActionIndex", "MessageId", "IsPlayed")}
        nxt.update(EventId=task_id, Attempt=attempt + 1, Timestamp=iso(utcnow()), IsPlayed=False)
        cp.messages.extend(self._dispatch(inst, nxt, cp))
        return [nxt]

    def _timer_message(self, inst: Instance, timer_id: int, fire_at: Any, delay: float) -> Outgoing:
        body = {
            "id": uuid.uuid4().hex,
            "instanceId": inst.instance_id,
            "executionId": inst.execution_id,
            "event": event(EventType.TimerFired, TimerId=timer_id, FireAt=iso(fire_at)),
        }
        return Outgoing(self.store.control_for(inst.instance_id), body, delay)

    def _dispatch(self, inst: Instance, sched: dict[str, Any], cp: Checkpoint) -> list[Outgoing]:
        """Messages that carry out one scheduled task (activity or sub-orchestration)."""
        if sched["EventType"] == EventType.TaskScheduled:
            body = {
                "id": uuid.uuid4().hex,
                "instanceId": inst.instance_id,
                "executionId": inst.execution_id,
                "name": sched["Name"],
                "input": sched.get("Input"),
                "taskScheduledId": sched["EventId"],
            }
            return [Outgoing(self.store.workitems_name, body)]
        child = Instance(
            sched["InstanceId"],
            sched["Name"],
            uuid.uuid4().hex,
            input=sched.get("Input"),
            parent={
                "instanceId": inst.instance_id,
                "executionId": inst.execution_id,
                "taskScheduledId": sched["EventId"],
            },
        )
        cp.starts.append(child)
        return []

    def _schedule(self, inst: Instance, flat: list[dict[str, Any]], cp: Checkpoint) -> str | None:
        for index in range(inst.action_count, len(flat)):
            action = flat[index]
            kind = int(action["actionType"])
            if kind in UNSUPPORTED:
                return f"devhost does not support {UNSUPPORTED[kind]} yet"
            task_id = inst.next_id
            retry = action.get("retryOptions") or {}
            extra: dict[str, Any] = {"ActionIndex": index}
            if kind in (1, 3):
                extra.update(
                    RetryMax=int(retry.get("maxNumberOfAttempts", 1)),
                    RetryIntervalMs=int(retry.get("firstRetryIntervalInMilliseconds", 1000)),
                    Attempt=1,
                )
            if kind in (0, 1):
                sched = event(
                    EventType.TaskScheduled,
                    task_id,
                    Name=action["functionName"],
                    Input=action.get("input"),
                    **extra,
                )
                inst.history.append(sched)
                cp.messages.extend(self._dispatch(inst, sched, cp))
            elif kind in (2, 3):
                child_id = action.get("instanceId") or f"{inst.instance_id}:{task_id:04d}"
                sched = event(
                    EventType.SubOrchestrationInstanceCreated,
                    task_id,
                    Name=action["functionName"],
                    Input=action.get("input"),
                    InstanceId=child_id,
                    **extra,
                )
                inst.history.append(sched)
                cp.messages.extend(self._dispatch(inst, sched, cp))
            elif kind == 5:
                fire_at = parse_iso(str(action["fireAt"]))
                delay = max(0.0, (fire_at - utcnow()).total_seconds())
                inst.history.append(
                    event(EventType.TimerCreated, task_id, FireAt=iso(fire_at), **extra)
                )
                cp.messages.append(self._timer_message(inst, task_id, fire_at, delay))
        return None

    def _continue(self, inst: Instance, action: dict[str, Any], cp: Checkpoint) -> None:
        inst.history.append(event(EventType.ContinueAsNew, Input=action.get("input")))
        inst.status = "ContinuedAsNew"
        nxt = Instance(
            inst.instance_id,
            inst.name,
            uuid.uuid4().hex,
            input=action.get("input"),
            parent=inst.parent,
        )
        nxt.created = inst.created
        cp.starts.append(nxt)

    def _finish(
        self, inst: Instance, status: str, output: str | None, cp: Checkpoint, details: str = ""
    ) -> None:
        inst.status = status
        inst.output = output
        inst.completed = utcnow()
        inst.history.append(
            event(EventType.ExecutionCompleted, OrchestrationStatus=status, Result=output)
        )
        parent = inst.parent
        if parent:
            if status == "Completed":
                ev = event(
                    EventType.SubOrchestrationInstanceCompleted,
                    TaskScheduledId=parent["taskScheduledId"],
                    Result=output,
                )
            else:
                reason = f"Orchestrator function '{inst.name}' failed: {details or status}"
                ev = event(
                    EventType.SubOrchestrationInstanceFailed,
                    TaskScheduledId=parent["taskScheduledId"],
                    Reason=reason,
                    Details=details,
                )
            body = {
                "id": uuid.uuid4().hex,
                "instanceId": parent["instanceId"],
                "executionId": parent["executionId"],
                "event": ev,
            }
            cp.messages.append(Outgoing(self.store.control_for(parent["instanceId"]), body))
        log.info("Orchestration '%s' (%s) %s", inst.name, inst.instance_id, status.lower())

    # --- activities ---------------------------------------------------------------------
    async def _workitem_loop(self) -> None:
        queue = self.store.workitems_name
        slots = asyncio.Semaphore(self.activity_concurrency)
        running: set[asyncio.Task[None]] = set()
        poll = _Backoff(self.poll_interval)
        while not self._stopping.is_set():
            free = self.activity_concurrency - len(running)
            if free <= 0:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            recs = await self._poll(queue, min(32, free), self.activity_visibility, poll)
            for rec in recs:
                task = asyncio.create_task(self._activity(rec, slots))
                running.add(task)
                task.add_done_callback(running.discard)

    async def _activity(self, rec: Received, slots: asyncio.Semaphore) -> None:
        body = rec.body
        async with slots:
            renew = asyncio.create_task(self._keep_hidden(rec))
            try:
                ev = await self._run_activity(body)
                out = {
                    "id": uuid.uuid4().hex,
                    "instanceId": body["instanceId"],
                    "executionId": body["executionId"],
                    "event": ev,
                }
                await self._send(Outgoing(self.store.control_for(body["instanceId"]), out))
                renew.cancel()
                await self.store.delete(rec)
            except Exception as exc:  # storage fault: the work item reappears and runs again
                log.warning(
                    "Activity message %s not completed (will retry): %s", body.get("name"), exc
                )
            finally:
                renew.cancel()

    async def _run_activity(self, body: dict[str, Any]) -> dict[str, Any]:
        name, task_id = str(body.get("name")), int(body.get("taskScheduledId", -1))
        try:
            result = await self.runner.run_activity(name, body.get("input"))
            return event(EventType.TaskCompleted, TaskScheduledId=task_id, Result=result)
        except FunctionInvocationError as exc:
            reason = f"Activity function '{name}' failed: {exc.message}"
            return event(
                EventType.TaskFailed,
                TaskScheduledId=task_id,
                Reason=reason,
                Details=exc.details or exc.message,
            )

    async def _keep_hidden(self, rec: Received) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.activity_visibility / 3)
                with contextlib.suppress(Exception):
                    await self.store.hide(rec, self.activity_visibility)


def _failure_state(exc: FunctionInvocationError) -> tuple[dict[str, Any], str]:
    """The SDK raises with the orchestrator state appended after $OutOfProcData$."""
    message = exc.message
    if OUT_OF_PROC in message:
        head, _, tail = message.partition(OUT_OF_PROC)
        try:
            state = json.loads(tail)
        except ValueError:
            state = {}
        error = state.get("error") or head.strip()
        return state, f"Orchestrator function '{exc.function_name}' failed: {error}"
    return {}, f"Orchestrator function '{exc.function_name}' failed: {message}"
