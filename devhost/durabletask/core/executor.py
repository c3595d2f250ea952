"""Replay: old state + new events in, new state and decisions out (DurableTask.Core's
`TaskOrchestrationExecutor` role, shaped like durabletask-python's `_OrchestrationExecutor`).

`Replayer.run` takes an instance (row + history) and the events admitted for it, runs
orchestrator episodes through `call` (the SDK's handle, reached through the host) and returns a
`Checkpoint`: the new state, the messages to send and the instances to start. It does no I/O,
reads no clock and makes no ids of its own (both are injected), and leaves its argument
unchanged, so it is unit-tested event by event with exact timestamps.

Each episode the SDK's reply goes through the extension's shim as Azure runs it
(devhost.durabletask.core.shim): refused calls are swallowed, replayed scheduling events are
checked against the actions (non-determinism fails the execution at once), and the execution
ends only when the SDK is done *and* no task is open (TaskOrchestrationExecutor.cs L150-178).
ContinueAsNew starts the next execution inside the same work item, with the EventRaised events
processed after it carried over (TaskOrchestrationDispatcher.cs L352-590: `do { ... } while
(continuedAsNew)`), so the checkpoint's state may be a new execution.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devhost.contracts import FunctionInvocationError
from devhost.durabletask.core import actions as act
from devhost.durabletask.core import nondeterminism, shim
from devhost.durabletask.core.decisions import Decider, finish, next_execution, segments
from devhost.durabletask.core.functions import ORCHESTRATOR, FunctionCatalog
from devhost.durabletask.core.refusals import RefusalLog, refusal
from devhost.durabletask.model.history import Event, EventType, event, iso
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import TERMINAL, RuntimeStatus
from devhost.durabletask.model.workitems import Checkpoint

__all__ = ["TIMER_SETTINGS", "Clock", "IdFactory", "OrchestratorCall", "Replayer", "segments"]

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
GENERATIONS_WARNING = 1000


@dataclass
class Failure:
    """FailOrchestration's reason (the output) and details (what a parent receives)."""

    reason: str
    details: str


@dataclass
class Carry:
    """A ContinueAsNew the execution reached, with the events it carries over."""

    action: act.Action
    events: list[Event] = field(default_factory=list)


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


def top_level(actions: Any) -> list[act.Action]:
    """Schema V2/V3 sends one list of actions wrapped in an outer list."""
    groups = actions if isinstance(actions, list) else []
    flat = [a for g in groups for a in (g if isinstance(g, list) else [g])]
    return [a for a in flat if isinstance(a, dict)]


class Replayer:
    def __init__(
        self,
        call: OrchestratorCall,
        *,
        clock: Clock,
        new_id: IdFactory,
        functions: FunctionCatalog | None = None,
        max_actions: int = shim.MAX_ORCHESTRATION_ACTIONS,
    ) -> None:
        """`functions`: the loaded functions names are checked against (None: every name is
        taken as known, for callers that run no name checks)."""
        self.call = call
        self.clock = clock
        self.new_id = new_id
        self.functions = functions
        self.max_actions = max_actions
        self.decider = Decider(new_id)
        self.refusals = RefusalLog()

    async def run(self, inst: Instance, events: list[Event]) -> Checkpoint:
        """Apply admitted events to a copy of `inst` and collect the decisions; the copy (or
        the execution a ContinueAsNew started) is the checkpoint's `state`."""
        state = dataclasses.replace(inst, history=list(inst.history))
        cp = Checkpoint(state=state)
        begin(state, events)
        parts = segments(state, events)
        for i, segment in enumerate(parts):
            if state.status in TERMINAL:
                break
            now = self.clock()
            terminate = next(
                (e for e in segment if e["EventType"] == EventType.ExecutionTerminated), None
            )
            if terminate is not None:
                state.history.extend(segment)
                reason = terminate.get("Input")
                finish(state, RuntimeStatus.Terminated, json.dumps(reason), cp, now=now)
                break
            carry = await self._episode(state, segment, cp, now)
            if carry is not None:
                later = [e for s in parts[i + 1 :] for e in s]
                carry.events += [e for e in later if e["EventType"] == EventType.EventRaised]
                taken = ",".join(str(e["MessageId"]) for e in events if "MessageId" in e)
                cp.state = await self._continue_as_new(state, carry, cp, taken)
                break
        return cp

    async def _continue_as_new(
        self, inst: Instance, carry: Carry, cp: Checkpoint, taken: str
    ) -> Instance:
        """Run the next executions' first episodes until one does not continue-as-new. The
        ExecutionStarted names the execution it replaces and the messages this work item took
        (devhost's bookkeeping: the crash repair and duplicate detection read them)."""
        first = inst.execution_id
        generations = 0
        while True:
            now = self.clock()
            nxt = next_execution(inst, carry.action, self.new_id(), now)
            started = event(
                EventType.ExecutionStarted,
                Name=nxt.name,
                Input=nxt.input,
                Version="",
                ParentInstanceId=(nxt.parent or {}).get("instanceId"),
                Timestamp=iso(now),
                ContinuedFrom=first,
                Consumed=taken or None,
            )
            again = await self._episode(nxt, [started, *carry.events], cp, now)
            if again is None:
                return nxt
            inst, carry = nxt, again
            generations += 1
            if generations == GENERATIONS_WARNING:
                log.warning(
                    "%s (%s) has continued as new %d times in one work item without waiting "
                    "for anything; Azure runs these in one work item too and never checkpoints",
                    inst.name,
                    inst.instance_id,
                    generations,
                )

    async def _episode(
        self, inst: Instance, new: list[Event], cp: Checkpoint, now: datetime
    ) -> Carry | None:
        """One orchestrator run over the history plus `new`; returns the ContinueAsNew the
        execution ends with, if it does."""
        started = event(EventType.OrchestratorStarted, Timestamp=iso(now))
        followups = self.decider.retry_followups(inst, new[0], cp, now) if len(new) == 1 else []
        ctx = context_json(inst, new, started)
        inst.history.extend([started, *new, *followups])
        reply, failure = await self._invoke(inst, ctx)
        top = top_level(reply.get("actions"))
        status = reply.get("customStatus")
        if status is not None:
            text, error = shim.serialize_custom_status(status)
            if error is not None:  # raised before the shim replays any action
                failure = Failure(f"Orchestrator function '{inst.name}' failed: {error}", error)
                top = []
            else:
                inst.custom_status = text
        unsupported = self._unsupported(top)
        refuse = refusal(inst, self.functions)
        plan = shim.plan(inst.history, top, refuse, self.max_actions)
        if unsupported is not None or plan.nondeterminism is not None:
            inst.history.append(event(EventType.OrchestratorCompleted, Timestamp=iso(now)))
            reason = unsupported or plan.nondeterminism or ""
            details = nondeterminism.details(reason) if plan.nondeterminism else reason
            self._fail(inst, Failure(reason, details), cp, now)
            return None
        self.decider.schedule(inst, plan.new, cp, now)
        self.refusals.tell(inst, plan.refused)
        inst.history.append(event(EventType.OrchestratorCompleted, Timestamp=iso(now)))
        if plan.open_tasks or not plan.finished:
            return None  # HasOpenTasks, or the shim still awaits: the execution goes on
        if failure is not None:
            self._fail(inst, failure, cp, now)
        elif reply.get("isDone") and plan.continue_as_new is not None:
            inst.history.append(
                event(
                    EventType.ContinueAsNew,
                    Input=plan.continue_as_new.get("input"),
                    Timestamp=iso(now),
                )
            )
            inst.status = RuntimeStatus.ContinuedAsNew
            return Carry(plan.continue_as_new, plan.carry_over)
        elif reply.get("isDone"):
            output = json.dumps(reply.get("output"))
            finish(inst, RuntimeStatus.Completed, output, cp, now=now)
        return None

    async def _invoke(self, inst: Instance, ctx: str) -> tuple[dict[str, Any], Failure | None]:
        """The SDK's reply, and the failure OutOfProcOrchestrationShim / TaskOrchestrationShim
        make of a raised episode (L85-91: reason "Orchestrator function '{name}' failed:
        {error}", details "Message: {error}, StackTrace: {stack}")."""
        name = inst.name
        if self.functions is not None:
            name = self.functions.resolve(inst.name, ORCHESTRATOR) or inst.name
        reply: Any
        try:
            reply = json.loads(await self.call(name, ctx))
        except FunctionInvocationError as exc:
            state, error = act.failure_state(exc.message)
            details = (
                f"Message: {error}, StackTrace: {act.stack_of(exc.details)}"
                if state
                else exc.message
            )
            return state, Failure(f"Orchestrator function '{inst.name}' failed: {error}", details)
        except ValueError as exc:
            return {}, Failure(f"Orchestrator function '{inst.name}' failed: {exc}", str(exc))
        return (reply if isinstance(reply, dict) else {}), None

    def _fail(self, inst: Instance, failure: Failure, cp: Checkpoint, now: datetime) -> None:
        output = json.dumps(failure.reason)
        finish(
            inst,
            RuntimeStatus.Failed,
            output,
            cp,
            now=now,
            reason=failure.reason,
            details=failure.details,
        )

    @staticmethod
    def _unsupported(top: list[act.Action]) -> str | None:
        for node in shim.walk([shim.build(a) for a in top]):
            if node.kind is None:
                return "devhost does not support this action yet"
            if node.kind in act.UNSUPPORTED:
                return f"devhost does not support {act.UNSUPPORTED[node.kind]} yet"
        return None
