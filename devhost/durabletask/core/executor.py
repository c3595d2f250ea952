"""Replay: new events in, history and decisions out (DurableTask.Core's executor role).

`Replayer.run` takes an instance (row + history) and the events admitted for it, runs
orchestrator episodes through `call` (the SDK's handle, reached through the host) and returns a
`Checkpoint`: the messages to send and the instances to start. It does no storage I/O, so it is
unit-tested event by event like durabletask-python's `_OrchestrationExecutor`.

Task ids mirror the SDK's counter: every scheduling event takes the next id in history order.
Retries (call_*_with_retry) are the host's job in the out-of-proc protocol: a failed attempt
gets a TimerCreated (next id), and the fired timer re-schedules the task (next id); the SDK
expects exactly that sequence, so retry-related events are replayed one per episode.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from devhost.contracts import FunctionInvocationError
from devhost.durabletask.azurestorage.messagedata import Outgoing, TaskMessage, WorkItem
from devhost.durabletask.core import actions as act
from devhost.durabletask.model.history import (
    FAILURES,
    Event,
    EventType,
    event,
    iso,
    parse_iso,
    utcnow,
)
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import TERMINAL, RuntimeStatus

# (orchestrator function name, context JSON) -> the SDK's reply JSON; raises
# FunctionInvocationError when the orchestrator raises.
OrchestratorCall = Callable[[str, str], Awaitable[str]]

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


@dataclass
class Checkpoint:
    messages: list[Outgoing] = field(default_factory=list)
    starts: list[Instance] = field(default_factory=list)  # sub-orchestrations / continue-as-new


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
    for ev in events:
        if retry_source(inst, ev) is not None:
            out.append([ev])
        elif out and not any(retry_source(inst, e) for e in out[-1]):
            out[-1].append(ev)
        else:
            out.append([ev])
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


class Replayer:
    def __init__(self, call: OrchestratorCall) -> None:
        self.call = call

    async def run(self, inst: Instance, events: list[Event]) -> Checkpoint:
        """Apply admitted events to `inst` (history, status, output) and collect decisions."""
        cp = Checkpoint()
        for segment in segments(inst, events):
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
        return cp

    async def _episode(self, inst: Instance, new: list[Event], cp: Checkpoint) -> None:
        started = event(EventType.OrchestratorStarted)
        followups = self._retry_followups(inst, new[0], cp) if len(new) == 1 else []
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
            error = self._schedule(inst, act.flatten(actions), cp)
        inst.history.append(event(EventType.OrchestratorCompleted))
        if error is not None:
            self._finish(inst, "Failed", json.dumps(error), cp, details=error)
        elif reply.get("isDone"):
            can = act.continue_action(actions)
            if can is not None:
                self._continue(inst, can, cp)
            else:
                self._finish(inst, "Completed", json.dumps(reply.get("output")), cp)

    def _retry_followups(self, inst: Instance, ev: Event, cp: Checkpoint) -> list[Event]:
        sched = retry_source(inst, ev)
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
            cp.messages.append(self._timer(inst, timer_id, iso(fire_at), delay))
            return [timer]
        if attempt >= limit:
            return []
        task_id = inst.next_id
        nxt = {k: v for k, v in sched.items() if k not in ("ActionIndex", "MessageId", "IsPlayed")}
        nxt.update(EventId=task_id, Attempt=attempt + 1, Timestamp=iso(utcnow()), IsPlayed=False)
        self._dispatch(inst, nxt, cp)
        return [nxt]

    @staticmethod
    def _timer(inst: Instance, timer_id: int, fire_at: str, delay: float) -> Outgoing:
        fired = event(EventType.TimerFired, TimerId=timer_id, FireAt=fire_at)
        return Outgoing(TaskMessage(inst.instance_id, inst.execution_id, fired), delay)

    @staticmethod
    def _dispatch(inst: Instance, sched: Event, cp: Checkpoint) -> None:
        """Carry out one scheduled task: a work item, or a sub-orchestration to start."""
        if sched["EventType"] == EventType.TaskScheduled:
            item = WorkItem(
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
            uuid.uuid4().hex,
            input=sched.get("Input"),
            parent=parent,
        )
        cp.starts.append(child)

    def _schedule(self, inst: Instance, flat: list[act.Action], cp: Checkpoint) -> str | None:
        """Turn actions the orchestrator added since the last episode into events."""
        for index in range(inst.action_count, len(flat)):
            action = flat[index]
            kind = act.action_type(action)
            if kind is None or kind in act.UNSUPPORTED:
                what = act.UNSUPPORTED.get(kind, "this action") if kind else "this action"
                return f"devhost does not support {what} yet"
            task_id = inst.next_id
            retry = action.get("retryOptions") or {}
            extra: dict[str, Any] = {"ActionIndex": index}
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
                self._dispatch(inst, sched, cp)
            elif kind in act.SUB_ORCHESTRATIONS:
                child_id = action.get("instanceId") or f"{inst.instance_id}:{task_id:04d}"
                sched = event(
                    EventType.SubOrchestrationInstanceCreated,
                    task_id,
                    InstanceId=child_id,
                    **common,
                )
                inst.history.append(sched)
                self._dispatch(inst, sched, cp)
            else:  # CREATE_TIMER
                fire_at = parse_iso(str(action["fireAt"]))
                delay = max(0.0, (fire_at - utcnow()).total_seconds())
                inst.history.append(
                    event(EventType.TimerCreated, task_id, FireAt=iso(fire_at), **extra)
                )
                cp.messages.append(self._timer(inst, task_id, iso(fire_at), delay))
        return None

    @staticmethod
    def _continue(inst: Instance, action: act.Action, cp: Checkpoint) -> None:
        inst.history.append(event(EventType.ContinueAsNew, Input=action.get("input")))
        inst.status = RuntimeStatus.ContinuedAsNew.value
        nxt = Instance(
            inst.instance_id,
            inst.name,
            uuid.uuid4().hex,
            input=action.get("input"),
            parent=inst.parent,
        )
        nxt.created = inst.created
        cp.starts.append(nxt)

    @staticmethod
    def _finish(
        inst: Instance, status: str, output: str | None, cp: Checkpoint, details: str = ""
    ) -> None:
        inst.status = status
        inst.output = output
        inst.completed = utcnow()
        inst.history.append(
            event(EventType.ExecutionCompleted, OrchestrationStatus=status, Result=output)
        )
        parent = inst.parent
        if not parent:
            return
        if status == RuntimeStatus.Completed.value:
            ev = event(
                EventType.SubOrchestrationInstanceCompleted,
                TaskScheduledId=parent["taskScheduledId"],
                Result=output,
            )
        else:
            ev = event(
                EventType.SubOrchestrationInstanceFailed,
                TaskScheduledId=parent["taskScheduledId"],
                Reason=f"Orchestrator function '{inst.name}' failed: {details or status}",
                Details=details,
            )
        msg = TaskMessage(str(parent["instanceId"]), parent.get("executionId"), ev)
        cp.messages.append(Outgoing(msg))
