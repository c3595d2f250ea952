"""Replay: old state + new events in, new state and decisions out (DurableTask.Core's
`TaskOrchestrationExecutor` role, shaped like durabletask-python's `_OrchestrationExecutor`).

`Replayer.run` takes an instance (row + history) and the events admitted for it, runs
orchestrator episodes through `call` (the SDK's handle, reached through the host) and returns a
`Checkpoint`: the new state, the messages to send and the instances to start. It does no I/O,
reads no clock and makes no ids of its own (both are injected), and leaves its argument
unchanged, so it is unit-tested event by event with exact timestamps.

Task ids mirror the SDK's counter: every scheduling event takes the next id in history order.
Retries (call_*_with_retry) are the host's job in the out-of-proc protocol: a failed attempt
gets a TimerCreated (next id), and the fired timer re-schedules the task (next id); the SDK
expects exactly that sequence, so retry-related events are replayed one per episode.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from devhost.contracts import FunctionInvocationError
from devhost.durabletask.core import actions as act
from devhost.durabletask.model.history import (
    FAILURES,
    Event,
    EventType,
    as_event,
    event,
    iso,
    parse_iso,
)
from devhost.durabletask.model.messages import ActivityRequest, Outgoing, TaskMessage
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import TERMINAL, RuntimeStatus
from devhost.durabletask.model.workitems import Checkpoint

# (orchestrator function name, context JSON) -> the SDK's reply JSON; raises
# FunctionInvocationError when the orchestrator raises.
OrchestratorCall = Callable[[str, str], Awaitable[str]]
Clock = Callable[[], datetime]
IdFactory = Callable[[], str]  # new execution ids (sub-orchestrations, continue-as-new)

log = logging.getLogger("devhost.durable")

# What the extension adds to the context for the Azure Storage backend
# (OrchestrationTriggerAttributeBindingProvider.cs L229-240, AzureStorageDurabilityProvider.cs
# L68-70: MaximumDelayTime 6 days, LongRunningTimerIntervalLength 3 days, as .NET TimeSpans;
# HttpOptions' default async sleep 30 s): the SDK splits timers longer than 6 days.
TIMER_SETTINGS = {
    "longRunningTimerIntervalDuration": "3.00:00:00",
    "maximumShortTimerDuration": "6.00:00:00",
    "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
}


def retry_source(inst: Instance, ev: Event) -> Event | None:
    """The retrying scheduling event a failure or retry timer belongs to, if any."""
    kind = EventType(ev["EventType"])
    if kind in FAILURES:
        sched = inst.scheduled(int(ev.get("TaskScheduledId", -1)))
    elif kind is EventType.TimerFired:
        timer = inst.scheduled(int(ev.get("TimerId", -1)))
        sched = inst.scheduled(int(timer["RetryFor"])) if timer and "RetryFor" in timer else None
    else:
        return None
    return sched if sched is not None and "RetryMax" in sched else None


def segments(inst: Instance, events: list[Event]) -> list[list[Event]]:
    """Episodes to run: retry-related events go alone, everything else together."""
    out: list[list[Event]] = []
    last_alone = False  # the last segment is a retry event (always alone)
    for ev in events:
        alone = retry_source(inst, ev) is not None
        if out and not alone and not last_alone:
            out[-1].append(ev)
        else:
            out.append([ev])
        last_alone = alone
    return out


def context_json(inst: Instance, new: list[Event], started: Event) -> str:
    """The orchestrationTrigger's input, as the extension builds it."""
    old = [{**e, "IsPlayed": True} for e in inst.history]
    return json.dumps(
        {
            "history": [*old, started, *new],
            "instanceId": inst.instance_id,
            "input": inst.input,
            "isReplaying": False,
            "parentInstanceId": inst.parent["instanceId"] if inst.parent else None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            **TIMER_SETTINGS,
        }
    )


def begin(state: Instance, events: list[Event]) -> None:
    """The lifecycle events of a batch applied to the working copy: a new ExecutionStarted
    begins an empty history, suspend and resume change the status (the session manager has
    already dropped or deferred whatever these states refuse)."""
    for ev in events:
        kind = EventType(ev["EventType"])
        if kind is EventType.ExecutionStarted and state.status == RuntimeStatus.Pending:
            state.history, state.persisted = [], 0
            state.status = RuntimeStatus.Running
        elif kind is EventType.ExecutionSuspended:
            state.status = RuntimeStatus.Suspended
        elif kind is EventType.ExecutionResumed:
            state.status = RuntimeStatus.Running


class Replayer:
    def __init__(self, call: OrchestratorCall, *, clock: Clock, new_id: IdFactory) -> None:
        self.call = call
        self.clock = clock
        self.new_id = new_id

    async def run(self, inst: Instance, events: list[Event]) -> Checkpoint:
        """Apply admitted events to a copy of `inst` and collect the decisions; the copy is
        the checkpoint's `state`."""
        state = dataclasses.replace(inst, history=list(inst.history))
        cp = Checkpoint(state=state)
        begin(state, events)
        for segment in segments(state, events):
            if state.status in TERMINAL:
                break
            now = self.clock()
            terminate = next(
                (e for e in segment if e["EventType"] == EventType.ExecutionTerminated), None
            )
            if terminate is not None:
                state.history.extend(segment)
                finish(
                    state, RuntimeStatus.Terminated, json.dumps(terminate.get("Input")), cp, now=now
                )
                break
            await self._episode(state, segment, cp, now)
        return cp

    async def _episode(
        self, inst: Instance, new: list[Event], cp: Checkpoint, now: datetime
    ) -> None:
        started = event(EventType.OrchestratorStarted, Timestamp=iso(now))
        followups = self._retry_followups(inst, new[0], cp, now) if len(new) == 1 else []
        ctx = context_json(inst, new, started)
        inst.history.extend([started, *new, *followups])
        error: str | None = None
        reply: Any
        try:
            reply = json.loads(await self.call(inst.name, ctx))
        except FunctionInvocationError as exc:
            reply, error = act.failure_state(exc.function_name, exc.message)
        except ValueError as exc:
            reply, error = {}, f"Orchestrator function '{inst.name}' failed: {exc}"
        if not isinstance(reply, dict):
            reply = {}
        if "customStatus" in reply:
            inst.custom_status = json.dumps(reply["customStatus"])
        actions = reply.get("actions") or []
        if error is None:
            error = self._schedule(inst, act.flatten(actions), cp, now)
        inst.history.append(event(EventType.OrchestratorCompleted, Timestamp=iso(now)))
        if error is not None:
            finish(inst, RuntimeStatus.Failed, json.dumps(error), cp, now=now, details=error)
        elif reply.get("isDone"):
            can = act.continue_action(actions)
            if can is not None:
                continue_as_new(inst, can, cp, now, self.new_id())
            else:
                finish(inst, RuntimeStatus.Completed, json.dumps(reply.get("output")), cp, now=now)

    def _retry_followups(
        self, inst: Instance, ev: Event, cp: Checkpoint, now: datetime
    ) -> list[Event]:
        sched = retry_source(inst, ev)
        if sched is None:
            return []
        kind = EventType(ev["EventType"])
        attempt, limit = int(sched.get("Attempt", 1)), int(sched["RetryMax"])
        if kind in FAILURES:
            delay = int(sched["RetryIntervalMs"]) / 1000 if attempt < limit else 0.0
            timer_id = inst.next_id
            fire_at = iso(now + timedelta(seconds=delay))
            timer = event(
                EventType.TimerCreated,
                timer_id,
                FireAt=fire_at,
                RetryFor=sched["EventId"],
                Timestamp=iso(now),
            )
            cp.messages.append(self._timer(inst, timer_id, fire_at, delay, now))
            return [timer]
        if attempt >= limit:
            return []
        task_id = inst.next_id
        kept = {k: v for k, v in sched.items() if k not in ("ActionIndex", "MessageId")}
        nxt = as_event(kept | {"EventId": task_id, "Attempt": attempt + 1})
        nxt["Timestamp"], nxt["IsPlayed"] = iso(now), False
        self._dispatch(inst, nxt, cp, now)
        return [nxt]

    @staticmethod
    def _timer(
        inst: Instance, timer_id: int, fire_at: str, delay: float, now: datetime
    ) -> Outgoing:
        fired = event(EventType.TimerFired, TimerId=timer_id, FireAt=fire_at, Timestamp=iso(now))
        return Outgoing(TaskMessage(inst.instance_id, inst.execution_id, fired), delay)

    def _dispatch(self, inst: Instance, sched: Event, cp: Checkpoint, now: datetime) -> None:
        """Carry out one scheduled task: a work item, or a sub-orchestration to start."""
        if sched["EventType"] == EventType.TaskScheduled:
            item = ActivityRequest(
                inst.instance_id,
                inst.execution_id,
                str(sched["Name"]),
                sched.get("Input"),
                int(sched["EventId"]),
            )
            cp.messages.append(Outgoing(item))
            return
        parent = {
            "instanceId": inst.instance_id,
            "executionId": inst.execution_id,
            "taskScheduledId": sched["EventId"],
        }
        child = Instance(
            str(sched["InstanceId"]),
            str(sched["Name"]),
            self.new_id(),
            input=sched.get("Input"),
            parent=parent,
            created=now,
            updated=now,
        )
        cp.starts.append(child)

    def _schedule(
        self, inst: Instance, flat: list[act.Action], cp: Checkpoint, now: datetime
    ) -> str | None:
        """Turn actions the orchestrator added since the last episode into events."""
        stamp = iso(now)
        task_id = inst.next_id - 1  # each action below appends one scheduling event
        for index in range(inst.action_count, len(flat)):
            action = flat[index]
            kind = act.action_type(action)
            if kind is None or kind in act.UNSUPPORTED:
                what = act.UNSUPPORTED.get(kind, "this action") if kind else "this action"
                return f"devhost does not support {what} yet"
            task_id += 1
            retry = action.get("retryOptions") or {}
            extra: dict[str, Any] = {"ActionIndex": index, "Timestamp": stamp}
            if kind in act.RETRYING:
                extra.update(
                    RetryMax=int(retry.get("maxNumberOfAttempts", 1)),
                    RetryIntervalMs=int(retry.get("firstRetryIntervalInMilliseconds", 1000)),
                    Attempt=1,
                )
            common = {"Name": action.get("functionName"), "Input": action.get("input"), **extra}
            if kind in act.ACTIVITIES:
                sched = event(EventType.TaskScheduled, task_id, **common)
                inst.history.append(sched)
                self._dispatch(inst, sched, cp, now)
            elif kind in act.SUB_ORCHESTRATIONS:
                child_id = action.get("instanceId") or f"{inst.instance_id}:{task_id:04d}"
                sched = event(
                    EventType.SubOrchestrationInstanceCreated,
                    task_id,
                    InstanceId=child_id,
                    **common,
                )
                inst.history.append(sched)
                self._dispatch(inst, sched, cp, now)
            else:  # CREATE_TIMER
                fire_at = parse_iso(str(action["fireAt"]))
                delay = max(0.0, (fire_at - now).total_seconds())
                inst.history.append(
                    event(EventType.TimerCreated, task_id, FireAt=iso(fire_at), **extra)
                )
                cp.messages.append(self._timer(inst, task_id, iso(fire_at), delay, now))
        return None


def continue_as_new(
    inst: Instance, action: act.Action, cp: Checkpoint, now: datetime, execution_id: str
) -> None:
    """ContinueAsNew: this execution ends, the next one starts from `action`'s input."""
    inst.history.append(
        event(EventType.ContinueAsNew, Input=action.get("input"), Timestamp=iso(now))
    )
    inst.status = RuntimeStatus.ContinuedAsNew
    nxt = Instance(
        inst.instance_id,
        inst.name,
        execution_id,
        input=action.get("input"),
        parent=inst.parent,
        created=inst.created,
        updated=now,
    )
    cp.starts.append(nxt)


def finish(
    inst: Instance,
    status: RuntimeStatus,
    output: str | None,
    cp: Checkpoint,
    *,
    now: datetime,
    details: str = "",
) -> None:
    """The execution ends with `status`; a sub-orchestration tells its parent."""
    stamp = iso(now)
    inst.status = status
    inst.output = output
    inst.completed = now
    inst.history.append(
        event(
            EventType.ExecutionCompleted,
            OrchestrationStatus=status,
            Result=output,
            Timestamp=stamp,
        )
    )
    parent = inst.parent
    if not parent:
        return
    if status == RuntimeStatus.Completed:
        ev = event(
            EventType.SubOrchestrationInstanceCompleted,
            TaskScheduledId=parent["taskScheduledId"],
            Result=output,
            Timestamp=stamp,
        )
    else:
        ev = event(
            EventType.SubOrchestrationInstanceFailed,
            TaskScheduledId=parent["taskScheduledId"],
            Reason=f"Orchestrator function '{inst.name}' failed: {details or status}",
            Details=details,
            Timestamp=stamp,
        )
    msg = TaskMessage(str(parent["instanceId"]), parent.get("executionId"), ev)
    cp.messages.append(Outgoing(msg))
