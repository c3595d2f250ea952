"""DurableTask.Core's non-determinism checks: a replayed scheduling event against the action the
orchestrator produced with the same sequence number (TaskOrchestrationContext.cs L277-375,
DurableTask.Core v2.17.1, the version extension v2.13.7 references). The texts are DTFx's own,
odd spacing included; NonDeterministicOrchestrationException prefixes them with
"Non-Deterministic workflow detected: " (NonDeterministicOrchestrationException.cs L43-47).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.durable_functions.models.actions.ActionType import ActionType

from devhost.durabletask.core import actions as act
from devhost.durabletask.model.history import Event, EventType

if TYPE_CHECKING:
    from devhost.durabletask.core.shim import Node

PREFIX = "Non-Deterministic workflow detected: "
EXCEPTION = "DurableTask.Core.Exceptions.NonDeterministicOrchestrationException"
HINT = "Was a change made to the orchestrator code after this instance had already started running?"

# The in-proc action class each SDK action becomes (DurableTask.Core.Command).
DOTNET_ACTION: dict[ActionType, str] = {
    **dict.fromkeys(act.ACTIVITIES, "ScheduleTaskOrchestratorAction"),
    **dict.fromkeys(act.SUB_ORCHESTRATIONS, "CreateSubOrchestrationAction"),
    ActionType.CREATE_TIMER: "CreateTimerOrchestratorAction",
}


def check(origin: Event, node: Node | None) -> str | None:
    """The exception message for `origin` replayed against `node` (None: no action took its
    number), or None when they agree."""
    kind = EventType(origin["EventType"])
    if kind is EventType.TaskScheduled:
        text = _activity(origin, node)
    elif kind is EventType.TimerCreated:
        text = _timer(origin, node)
    else:
        text = _sub_orchestration(origin, node)
    return None if text is None else PREFIX + text


def _activity(origin: Event, node: Node | None) -> str | None:
    """HandleTaskScheduledEvent, L277-309."""
    seq, name = origin["EventId"], origin.get("Name")
    if node is None:
        return (
            f"A previous execution of this orchestration scheduled an activity task with "
            f"sequence ID {seq} and name '{name}' (version '{origin.get('Version', '')}'), but "
            f"the current replay execution hasn't (yet?) scheduled this task. {HINT}"
        )
    if node.kind not in act.ACTIVITIES:
        return (
            f"A previous execution of this orchestration scheduled an activity task with "
            f"sequence number {seq} named '{name}', but the current orchestration replay "
            f"instead produced a {_dotnet(node)} action with this sequence number. {HINT}"
        )
    if not _same(name, node):
        return (
            f"A previous execution of this orchestration scheduled an activity task with "
            f"sequence number {seq} named '{name}', but the current orchestration replay "
            f"instead scheduled an activity task named '{node.action.get('functionName')}' "
            f"with this sequence number.  {HINT}"
        )
    return None


def _timer(origin: Event, node: Node | None) -> str | None:
    """HandleTimerCreatedEvent, L311-339 ("named but" is DTFx's)."""
    seq = origin["EventId"]
    if node is None:
        return (
            f"A previous execution of this orchestration scheduled a timer task with sequence "
            f"number {seq} but the current replay execution hasn't (yet?) scheduled this task. "
            f"{HINT}"
        )
    if node.kind is not ActionType.CREATE_TIMER:
        return (
            f"A previous execution of this orchestration scheduled a timer task with sequence "
            f"number {seq} named but the current orchestration replay instead produced a "
            f"{_dotnet(node)} action with this sequence number. {HINT}"
        )
    return None


def _sub_orchestration(origin: Event, node: Node | None) -> str | None:
    """HandleSubOrchestrationCreatedEvent, L341-375."""
    name = origin.get("Name")
    head = (
        f"A previous execution of this orchestration scheduled a sub-orchestration task with "
        f"sequence ID {origin['EventId']} and name '{name}' (version "
        f"'{origin.get('Version', '')}', instance ID '{origin.get('InstanceId')}'), but the "
        "current "
    )
    if node is None:
        return f"{head}replay execution hasn't (yet?) scheduled this task. {HINT}"
    if node.kind not in act.SUB_ORCHESTRATIONS:
        return (
            f"{head}orchestration replay instead produced a {_dotnet(node)} action at this "
            f"sequence number. {HINT}"
        )
    if not _same(name, node):
        return (
            f"{head}orchestration replay instead scheduled a sub-orchestration task with name "
            f"{node.action.get('functionName')} at this sequence number. {HINT}"
        )
    return None


def _dotnet(node: Node) -> str:
    if node.kind is None:
        return "OrchestratorAction"
    return DOTNET_ACTION.get(node.kind, "OrchestratorAction")


def _same(name: object, node: Node) -> bool:
    """Names compare with StringComparison.OrdinalIgnoreCase."""
    return str(name or "").casefold() == str(node.action.get("functionName") or "").casefold()


def details(message: str) -> str:
    """FailOrchestration's `details` for an exception that is not an OrchestrationFailureException
    (TaskOrchestrationContext.cs L653-656): "Unhandled exception while executing orchestration:"
    and the exception's ToString (its .NET stack trace has no equivalent here)."""
    return f"Unhandled exception while executing orchestration: {EXCEPTION}: {message}"
