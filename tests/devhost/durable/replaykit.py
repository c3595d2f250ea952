"""Drive devhost's replay with the real Durable SDK in-process: no Azurite, no host.

`sdk_call` turns generator orchestrators into the `OrchestratorCall` the Replayer expects, the
way the host reaches them (func.OrchestrationContext -> Orchestrator.create's handle); an
exception becomes FunctionInvocationError with str(exc), as devhost.invoker reports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from devhost.contracts import FunctionInvocationError
from devhost.durabletask.azurestorage.messagedata import TaskMessage, WorkItem
from devhost.durabletask.core.executor import Checkpoint, OrchestratorCall
from devhost.durabletask.model.history import Event, EventType, event
from devhost.durabletask.model.state import Instance

Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]


def sdk_call(orchestrators: dict[str, Orchestrator]) -> OrchestratorCall:
    handles = {name: df.Orchestrator.create(fn) for name, fn in orchestrators.items()}

    async def call(name: str, context_json: str) -> str:
        try:
            return str(handles[name](func.OrchestrationContext(context_json)))
        except Exception as exc:
            raise FunctionInvocationError(name, str(exc), type(exc).__name__) from exc

    return call


def running(name: str, input_value: Any = None, instance_id: str = "inst-1") -> Instance:
    """An instance whose ExecutionStarted was admitted (status Running, empty history)."""
    inst = Instance(instance_id, name, "exec-1", input=json.dumps(input_value))
    inst.status = "Running"
    return inst


def started(inst: Instance) -> Event:
    return event(EventType.ExecutionStarted, Name=inst.name, Input=inst.input, Version="")


def completed(task_id: int, result: Any) -> Event:
    return event(EventType.TaskCompleted, TaskScheduledId=task_id, Result=json.dumps(result))


def failed(task_id: int, message: str) -> Event:
    return event(
        EventType.TaskFailed,
        TaskScheduledId=task_id,
        Reason=f"Activity function 'X' failed: {message}",
        Details=message,
    )


def fired(timer_id: int, fire_at: str) -> Event:
    return event(EventType.TimerFired, TimerId=timer_id, FireAt=fire_at)


def work_items(cp: Checkpoint) -> list[WorkItem]:
    return [o.message for o in cp.messages if isinstance(o.message, WorkItem)]


def task_messages(cp: Checkpoint) -> list[tuple[TaskMessage, float]]:
    return [(o.message, o.delay) for o in cp.messages if isinstance(o.message, TaskMessage)]


def kinds(inst: Instance) -> list[str]:
    """History as EventType names (the row form), for readable assertions."""
    return [EventType(e["EventType"]).name for e in inst.history]
