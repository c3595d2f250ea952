"""Drive devhost's replay with the real Durable SDK in-process: no Azurite, no host.

`sdk_call` turns generator orchestrators into the `OrchestratorCall` the Replayer expects, the
way the host reaches them (func.OrchestrationContext -> Orchestrator.create's handle); an
exception becomes FunctionInvocationError with str(exc), as devhost.invoker reports it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import traceback
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from devhost.contracts import FunctionInvocationError
from devhost.durabletask.core.executor import OrchestratorCall, Replayer
from devhost.durabletask.core.functions import FunctionCatalog
from devhost.durabletask.model.history import Event, EventType, event, iso
from devhost.durabletask.model.messages import ActivityRequest, TaskMessage
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.workitems import Checkpoint

Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]


def sdk_call(orchestrators: dict[str, Orchestrator]) -> OrchestratorCall:
    handles = {name: df.Orchestrator.create(fn) for name, fn in orchestrators.items()}

    async def call(name: str, context_json: str) -> str:
        try:
            return str(handles[name](func.OrchestrationContext(context_json)))
        except Exception as exc:  # as devhost.invoker reports it, traceback included
            details = "".join(traceback.format_exception(exc))
            raise FunctionInvocationError(name, str(exc), type(exc).__name__, details) from exc

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


def work_items(cp: Checkpoint) -> list[ActivityRequest]:
    return [o.message for o in cp.messages if isinstance(o.message, ActivityRequest)]


def task_messages(cp: Checkpoint) -> list[tuple[TaskMessage, float]]:
    return [(o.message, o.delay) for o in cp.messages if isinstance(o.message, TaskMessage)]


def kinds(inst: Instance) -> list[str]:
    """History as EventType names (the row form), for readable assertions."""
    return [EventType(e["EventType"]).name for e in inst.history]


T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


class FixedClock:
    """The executor's injected clock: stands still until a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def id_factory(prefix: str = "exec") -> Callable[[], str]:
    counter = itertools.count(2)
    return lambda: f"{prefix}-{next(counter)}"


def make_replayer(call: OrchestratorCall, clock: FixedClock | None = None) -> Replayer:
    return Replayer(call, clock=clock or FixedClock(), new_id=id_factory())


def app_replayer(
    orchestrators: dict[str, Orchestrator],
    activities: tuple[str, ...] = (),
    clock: FixedClock | None = None,
    **options: Any,
) -> Replayer:
    """A Replayer over an app with these functions: names are checked as the extension checks
    them (the activities themselves never run here)."""
    runner = MemoryRunner(orchestrators, dict.fromkeys(activities, lambda value: value))
    return Replayer(
        runner.run_orchestrator,
        clock=clock or FixedClock(),
        new_id=id_factory(),
        functions=FunctionCatalog(runner),
        **options,
    )


def raised(name: str, value: Any) -> Event:
    return event(EventType.EventRaised, Name=name, Input=json.dumps(value))


def run(replayer: Replayer, inst: Instance, *events: Event) -> Checkpoint:
    """One executor call; the returned state becomes `inst`, as the dispatcher keeps it for the
    next episode (the executor itself leaves its argument unchanged)."""
    cp = asyncio.run(replayer.run(inst, list(events)))
    assert cp.state is not None
    inst.__dict__.update(cp.state.__dict__)
    return cp


def stamp(clock: FixedClock) -> str:
    return iso(clock.now)


class MemoryRunner:
    """A FunctionRunner over in-process orchestrators (through the real SDK) and plain Python
    activities, counting activity runs."""

    def __init__(
        self,
        orchestrators: dict[str, Orchestrator],
        activities: dict[str, Callable[[Any], Any]],
    ) -> None:
        self.orchestrators = orchestrators
        self.activities = activities
        self._call = sdk_call(orchestrators)
        self.runs: list[str] = []

    def function_names(self) -> list[str]:
        return [*self.orchestrators, *self.activities]

    def trigger_type(self, function_name: str) -> str | None:
        if function_name in self.orchestrators:
            return "orchestrationTrigger"
        return "activityTrigger" if function_name in self.activities else None

    async def run_orchestrator(self, function_name: str, context_json: str) -> str:
        return await self._call(function_name, context_json)

    async def run_activity(
        self, function_name: str, input_json: str | None, instance_id: str | None = None
    ) -> str:
        self.runs.append(function_name)
        fn = self.activities.get(function_name)
        if fn is None:
            raise FunctionInvocationError(function_name, f"no function {function_name}")
        try:
            return json.dumps(fn(json.loads(input_json) if input_json else None))
        except Exception as exc:
            raise FunctionInvocationError(function_name, str(exc), type(exc).__name__) from exc
