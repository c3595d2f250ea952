"""The orchestrator's reply: the SDK's action types as the extension groups them, and the failure
state embedded in a raised episode."""

from __future__ import annotations

import json
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType

OUT_OF_PROC = "$OutOfProcData$:"
OUT_OF_PROC_LABEL = "\n\n" + OUT_OF_PROC  # OutOfProcExceptionHelpers.OutOfProcDataLabel

# Actions that take a task id from the SDK's counter (WaitForExternalEvent matches by name).
ID_ACTIONS = frozenset(
    {
        ActionType.CALL_ACTIVITY,
        ActionType.CALL_ACTIVITY_WITH_RETRY,
        ActionType.CALL_SUB_ORCHESTRATOR,
        ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ActionType.CREATE_TIMER,
        ActionType.CALL_ENTITY,
        ActionType.CALL_HTTP,
    }
)
COMPOUND = frozenset({ActionType.WHEN_ANY, ActionType.WHEN_ALL})
UNSUPPORTED = {
    ActionType.CALL_ENTITY: "call_entity",
    ActionType.CALL_HTTP: "call_http",
    ActionType.SIGNAL_ENTITY: "signal_entity",
}
RETRYING = frozenset(
    {ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
)
ACTIVITIES = frozenset({ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY})
SUB_ORCHESTRATIONS = frozenset(
    {ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
)

Action = dict[str, Any]


def action_type(action: Action) -> ActionType | None:
    try:
        return ActionType(int(action.get("actionType", -1)))
    except (TypeError, ValueError):
        return None


def failure_state(message: str) -> tuple[dict[str, Any], str]:
    """(state, error) of a raised episode: the SDK appends "\n\n$OutOfProcData$:" and its
    state to the exception message, read from the first such label
    (OutOfProcExceptionHelpers.TryExtractOutOfProcStateJson, L47-78), and the state's `error` is
    str(exception); without the label the message itself is the error (TaskOrchestrationShim.cs
    L174-207)."""
    if OUT_OF_PROC_LABEL in message:
        head, _, tail = message.partition(OUT_OF_PROC_LABEL)
        try:
            state = json.loads(tail)
        except ValueError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        return state, str(state.get("error") or head.strip())
    return {}, message


def stack_of(details: str) -> str:
    """A raised episode's traceback without the SDK's state (devhost's stand-in for the .NET
    stack trace the extension puts in a failure's details)."""
    return details.split(OUT_OF_PROC, 1)[0].rstrip()
