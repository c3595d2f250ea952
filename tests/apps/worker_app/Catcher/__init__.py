"""Calls the activity its input names (a name, or [name, input]) and returns what it gets, or
the failure it catches."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    spec = context.get_input()
    name, value = spec if isinstance(spec, list) else (spec, "x")
    try:
        result = yield context.call_activity(name, value)
    except Exception as exc:
        return f"caught: {exc}"
    return f"returned: {result}"


main = df.Orchestrator.create(orchestrator)
