"""The orchestrator's reply: the SDK's action list (schema V2), flattened the way its task-id
counter numbers them, and the failure state embedded in a raised episode."""

from __future__ import annotations

import json
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType

OUT_OF_PROC = "$OutOfProcData$:"

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


def _groups(actions: Any) -> list[Action]:
    out: list[Action] = []
    for group in actions or []:
        for a in group if isinstance(group, list) else [group]:
            if isinstance(a, dict):
                out.append(a)
    return out


def flatten(actions: Any) -> list[Action]:
    """Id-taking actions in the order the SDK numbers them (compound children depth-first)."""
    out: list[Action] = []

    def walk(a: Action) -> None:
        kind = action_type(a)
        if kind in COMPOUND:
            for child in a.get("compoundActions") or []:
                walk(child)
        elif kind in ID_ACTIONS:
            out.append(a)

    for a in _groups(actions):
        walk(a)
    return out


def continue_action(actions: Any) -> Action | None:
    for a in _groups(actions):
        if action_type(a) is ActionType.CONTINUE_AS_NEW:
            return a
    return None


def failure_state(function_name: str, message: str) -> tuple[dict[str, Any], str]:
    """(state, error text) of a raised episode: the SDK appends its state after
    `$OutOfProcData$:` to the exception message."""
    if OUT_OF_PROC in message:
        head, _, tail = message.partition(OUT_OF_PROC)
        try:
            state = json.loads(tail)
        except ValueError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        error = state.get("error") or head.strip()
        return state, f"Orchestrator function '{function_name}' failed: {error}"
    return {}, f"Orchestrator function '{function_name}' failed: {message}"
