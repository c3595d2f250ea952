"""Decisions turned into history events and messages (TaskOrchestrationDispatcher's
ProcessScheduleTaskDecision, ProcessCreateTimerDecision,
ProcessCreateSubOrchestrationInstanceDecision, ProcessWorkflowCompletedTaskDecision), plus the
retries the host drives for the out-of-proc SDK (RetryInterceptor.cs: attempt, timer,
attempt..., and after the last failure a timer that fires at once, "for back-compat")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from devhost.durabletask.core import actions as act
from devhost.durabletask.core.actiontree import Node
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
from devhost.durabletask.model.status import RuntimeStatus
from devhost.durabletask.model.workitems import Checkpoint

IdFactory = Callable[[], str]


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
    """Episodes to run: retry-related events go alone (the SDK expects the retry timer between
    a failure and the next attempt), everything else together."""
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


def timer_message(inst: Instance, timer_id: int, fire_at: str, now: datetime) -> Outgoing:
    """The TimerFired message, visible at `fire_at` (ProcessCreateTimerDecision)."""
    fired = event(EventType.TimerFired, TimerId=timer_id, FireAt=fire_at, Timestamp=iso(now))
    delay = max(0.0, (parse_iso(fire_at) - now).total_seconds())
    return Outgoing(TaskMessage(inst.instance_id, inst.execution_id, fired), delay)


class Decider:
    """Writes scheduling events into the execution's history and the matching messages and
    starts into the checkpoint; `new_id` names the sub-orchestrations' executions."""

    def __init__(self, new_id: IdFactory) -> None:
        self.new_id = new_id

    def schedule(self, inst: Instance, nodes: list[Node], cp: Checkpoint, now: datetime) -> None:
        """The actions history lacks, each taking the next sequence number."""
        stamp = iso(now)
        # Counted once: each node below appends one scheduling event with an ActionIndex
        # (counting per node scanned the history once per action: quadratic in a fan-out).
        first_id, first_index = inst.next_id, inst.action_count
        for n, node in enumerate(nodes):
            action, kind = node.action, node.kind
            task_id = first_id + n
            extra: dict[str, Any] = {"ActionIndex": first_index + n, "Timestamp": stamp}
            if kind in act.RETRYING:
                retry = action.get("retryOptions") or {}
                extra.update(
                    RetryMax=int(retry.get("maxNumberOfAttempts", 1)),
                    RetryIntervalMs=int(retry.get("firstRetryIntervalInMilliseconds", 1000)),
                    Attempt=1,
                )
            common = {"Name": action.get("functionName"), "Input": action.get("input"), **extra}
            if kind in act.ACTIVITIES:
                sched = event(EventType.TaskScheduled, task_id, **common)
            elif kind in act.SUB_ORCHESTRATIONS:
                # TaskOrchestrationContext.CreateSubOrchestrationInstanceCore L163-167: no id
                # given -> "{ExecutionId}:{sequence number}"
                child_id = action.get("instanceId") or f"{inst.execution_id}:{task_id}"
                sched = event(
                    EventType.SubOrchestrationInstanceCreated,
                    task_id,
                    InstanceId=child_id,
                    **common,
                )
            else:  # CREATE_TIMER
                fire_at = iso(parse_iso(str(action["fireAt"])))
                inst.history.append(event(EventType.TimerCreated, task_id, FireAt=fire_at, **extra))
                cp.messages.append(timer_message(inst, task_id, fire_at, now))
                continue
            node.task_id = task_id
            inst.history.append(sched)
            self.dispatch(inst, sched, cp, now)

    def dispatch(self, inst: Instance, sched: Event, cp: Checkpoint, now: datetime) -> None:
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

    def retry_followups(
        self, inst: Instance, ev: Event, cp: Checkpoint, now: datetime
    ) -> list[Event]:
        """After a failed attempt: the retry timer; after that timer: the next attempt. Both
        name their task's first attempt (`RetryOf`), which the shim's replay follows."""
        sched = retry_source(inst, ev)
        if sched is None:
            return []
        origin = int(sched.get("RetryOf", sched["EventId"]))
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
                RetryOf=origin,
                Timestamp=iso(now),
            )
            cp.messages.append(timer_message(inst, timer_id, fire_at, now))
            return [timer]
        if attempt >= limit:
            return []
        task_id = inst.next_id
        kept = {k: v for k, v in sched.items() if k not in ("ActionIndex", "MessageId")}
        nxt = as_event(kept | {"EventId": task_id, "Attempt": attempt + 1, "RetryOf": origin})
        nxt["Timestamp"], nxt["IsPlayed"] = iso(now), False
        self.dispatch(inst, nxt, cp, now)
        return [nxt]


def next_execution(
    inst: Instance, action: act.Action, execution_id: str, now: datetime
) -> Instance:
    """The execution ContinueAsNew starts (ProcessWorkflowCompletedTaskDecision L884-910): same
    instance, name and parent, the new input, a new execution id; its ExecutionStarted time is
    the instance's new CreatedTime (AzureTableTrackingStore.UpdateStateAsync L1040-1047), and
    the custom status carries over until the new execution sets one (TaskOrchestrationDispatcher
    L590-591)."""
    return Instance(
        inst.instance_id,
        inst.name,
        execution_id,
        status=RuntimeStatus.Running,
        input=action.get("input"),
        custom_status=inst.custom_status,
        parent=inst.parent,
        created=now,
        updated=now,
    )


def finish(
    inst: Instance,
    status: RuntimeStatus,
    output: str | None,
    cp: Checkpoint,
    *,
    now: datetime,
    reason: str | None = None,
    details: str | None = None,
) -> None:
    """The execution ends with `status`; a sub-orchestration tells its parent: Completed with
    the result, Failed or Terminated with the failure's reason and details as they are
    (ProcessWorkflowCompletedTaskDecision L940-962; the extension sets IncludeDetails)."""
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
            Reason=reason if reason is not None else _text(output),
            Details=details,
            Timestamp=stamp,
        )
    msg = TaskMessage(str(parent["instanceId"]), parent.get("executionId"), ev)
    cp.messages.append(Outgoing(msg))


def _text(output: str | None) -> str | None:
    try:
        value = json.loads(output) if output is not None else None
    except ValueError:
        return output
    return value if isinstance(value, str) else output
