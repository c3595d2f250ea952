"""What the extension does with the SDK's reply, replayed over the execution's history.

In Azure, every episode the extension's OutOfProcOrchestrationShim walks the SDK's action list
(schema V2/V3: one list, cumulative since the execution started) and calls the in-proc context
API once per action, awaiting each top-level action before the next
(OutOfProcOrchestrationShim.cs L199-219); DurableTask.Core meanwhile replays the history through
TaskOrchestrationContext. `plan` reproduces what that decides, without running .NET:

- which actions the context API refuses: its ArgumentExceptions are raised inside an async
  method, so the shim's `catch (Exception) { }` (L210-217) swallows them and nothing is
  scheduled: an unknown activity or sub-orchestrator (DurableOrchestrationContext.cs L563,
  DurableTaskExtension.ThrowIfFunctionDoesNotExist), a sub-orchestration id equal to its
  parent's or starting with '@' (L596-607), a retry interval over the provider's 6 days (L548-558,
  AzureStorageDurabilityProvider.ValidateDelayTime), more actions than MaxOrchestrationActions
  (L1209-1219);
- the sequence number each remaining action takes (TaskOrchestrationContext's `idCounter`), and
  the non-determinism check of every replayed scheduling event against the action with its
  number (TaskOrchestrationContext.cs L277-375, DurableTask.Core v2.17.1);
- which tasks are still open (`openTasks`: activities, sub-orchestrations and timers until their
  completion arrives; a timer whose action says isCanceled is removed at once, L260-270); the
  executor completes an execution only when none is (TaskOrchestrationExecutor.cs L150-178);
- when the shim reaches ContinueAsNew, and the EventRaised events DurableTask.Core processes
  after that point: they are carried over to the next execution (HandleEventRaisedEvent,
  L414-424; AzureStorage's EventBehaviourForContinueAsNew defaults to Carryover), while events
  the extension had buffered before are dropped (ContinueAsNew(input) from the shim passes
  preserveUnprocessedEvents=false, DurableOrchestrationContext.cs L1044-1050).

External events are matched as the extension's DurableOrchestrationContext does: by name
ignoring case, the newest waiter first, early events buffered in arrival order (L860-972).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from azure.durable_functions.models.actions.ActionType import ActionType

from devhost.durabletask.core import actions as act
from devhost.durabletask.core import nondeterminism
from devhost.durabletask.model.history import Event, EventType

MAX_DELAY_MS = 6 * 24 * 3600 * 1000  # AzureStorageDurabilityProvider.MaximumDelayTime
MAX_ORCHESTRATION_ACTIONS = 100_000  # DurableTaskOptions.MaxOrchestrationActions default
SCHEDULING = {
    EventType.TaskScheduled: act.ACTIVITIES,
    EventType.SubOrchestrationInstanceCreated: act.SUB_ORCHESTRATIONS,
    EventType.TimerCreated: frozenset({ActionType.CREATE_TIMER}),
}

# (action, kind) -> the ArgumentException text the context API would raise, or None
Refusal = Callable[[act.Action, ActionType], str | None]


@dataclass(eq=False)
class Node:
    """One action of the SDK's list, as the shim invokes it."""

    action: act.Action
    kind: ActionType | None
    children: list[Node] = field(default_factory=list)
    refused: str | None = None
    task_id: int | None = None  # the sequence number history gave it; None while new
    invoked: bool = False
    done: bool = False
    canceled: bool = False
    # A finished task stays finished, so a WhenAll resumes where it stopped and a WhenAny
    # remembers: asked after every history event, a scan from the start made a fan-out of N
    # cost N x its history per episode.
    unfinished_from: int = 0
    any_finished: bool = False

    @property
    def takes_id(self) -> bool:
        return self.kind in act.ID_ACTIONS and self.refused is None

    def finished(self) -> bool:
        if self.kind is ActionType.WHEN_ALL:
            kids = self.children
            while self.unfinished_from < len(kids) and kids[self.unfinished_from].finished():
                self.unfinished_from += 1
            return self.unfinished_from == len(kids)
        if self.kind is ActionType.WHEN_ANY:
            self.any_finished = self.any_finished or any(c.finished() for c in self.children)
            return self.any_finished
        return self.done


@dataclass
class Plan:
    nondeterminism: str | None = None  # NonDeterministicOrchestrationException's message
    new: list[Node] = field(default_factory=list)  # actions history lacks, in invocation order
    refused: list[Node] = field(default_factory=list)
    open_tasks: int = 0
    finished: bool = False  # the shim reached the end of the list
    continue_as_new: act.Action | None = None
    carry_over: list[Event] = field(default_factory=list)


def build(action: act.Action) -> Node:
    kind = act.action_type(action)
    children = [build(c) for c in action.get("compoundActions") or [] if isinstance(c, dict)]
    return Node(action, kind, children if kind in act.COMPOUND else [])


def walk(nodes: list[Node]) -> list[Node]:
    """Leaves in invocation order (compound children in order, depth first)."""
    out: list[Node] = []
    for n in nodes:
        out.extend(walk(n.children) if n.kind in act.COMPOUND else [n])
    return out


def plan(history: list[Event], top: list[act.Action], refusal: Refusal, max_actions: int) -> Plan:
    """`history`: the execution's events so far, this episode's included; `top`: the SDK's
    top-level actions (empty when the shim failed before replaying them)."""
    tree = [build(a) for a in top]
    leaves = walk(tree)
    count = 0
    for leaf in leaves:
        if leaf.kind in act.ID_ACTIONS and leaf.kind is not None:
            leaf.refused = refusal(leaf.action, leaf.kind)
            if leaf.refused is None:
                count += 1
                if count > max_actions:
                    leaf.refused = (
                        f"Maximum amount of orchestration actions ({max_actions}) has been "
                        "reached. This value can be configured in host.json file as "
                        "MaxOrchestrationActions."
                    )
    candidates = [leaf for leaf in leaves if leaf.takes_id]
    origins = [e for e in history if e["EventType"] in SCHEDULING and "ActionIndex" in e]
    for k, origin in enumerate(origins):
        mismatch = nondeterminism.check(origin, candidates[k] if k < len(candidates) else None)
        if mismatch is not None:
            return Plan(nondeterminism=mismatch)
        candidates[k].task_id = int(origin["EventId"])
    result = Plan(
        new=candidates[len(origins) :], refused=[n for n in leaves if n.refused is not None]
    )
    _Replay(tree, history).run(result)
    result.open_tasks = sum(1 for n in candidates if n.invoked and not n.done and not n.canceled)
    return result


class _Replay:
    """DurableTask.Core's ProcessEvents with the shim awaiting each top-level action."""

    def __init__(self, tree: list[Node], history: list[Event]) -> None:
        self.top = tree
        self.history = history
        self.pos = 0
        self.scheduled = {int(e["EventId"]): e for e in history if e["EventType"] in SCHEDULING}
        self.by_id: dict[int, Node] = {}
        for leaf in walk(tree):
            if leaf.task_id is not None:
                self.by_id[leaf.task_id] = leaf
        for e in history:  # retry timers and re-attempts belong to their first attempt's task
            if "RetryOf" in e and int(e["RetryOf"]) in self.by_id:
                self.by_id[int(e["EventId"])] = self.by_id[int(e["RetryOf"])]
        self.waiting: dict[str, list[Node]] = {}
        self.buffered: dict[str, deque[Event]] = {}

    def run(self, out: Plan) -> None:
        started = False
        for ev in self.history:
            kind = ev["EventType"]
            if kind == EventType.ExecutionStarted:
                started = True
            elif not started:
                continue
            elif kind == EventType.EventRaised and out.continue_as_new is not None:
                out.carry_over.append(ev)
            else:
                self.deliver(ev)
            self.advance(out)
        out.finished = self.pos >= len(self.top)

    def advance(self, out: Plan) -> None:
        while self.pos < len(self.top):
            node = self.top[self.pos]
            if not node.invoked:
                self.invoke(node, out)
            if not node.finished():
                return
            self.pos += 1

    def invoke(self, node: Node, out: Plan) -> None:
        node.invoked = True
        if node.refused is not None:
            node.done = True  # a faulted task: the shim swallows it and moves on
        elif node.kind is ActionType.CONTINUE_AS_NEW:
            out.continue_as_new, node.done = node.action, True
        elif node.kind is ActionType.WAIT_FOR_EXTERNAL_EVENT:
            name = str(node.action.get("externalEventName") or "").casefold()
            queue = self.buffered.get(name)
            if queue:
                queue.popleft()
                node.done = True
            else:
                self.waiting.setdefault(name, []).append(node)
        elif node.kind is ActionType.CREATE_TIMER and node.action.get("isCanceled"):
            node.canceled = node.done = True
        for child in node.children:
            self.invoke(child, out)

    def deliver(self, ev: Event) -> None:
        kind = EventType(ev["EventType"])
        if kind is EventType.EventRaised:
            name = str(ev.get("Name") or "").casefold()
            waiters = self.waiting.get(name)
            if waiters:
                waiters.pop().done = True
            else:
                self.buffered.setdefault(name, deque()).append(ev)
            return
        if kind is EventType.TimerFired:
            task_id = int(ev.get("TimerId", -1))
        elif kind in (
            EventType.TaskCompleted,
            EventType.TaskFailed,
            EventType.SubOrchestrationInstanceCompleted,
            EventType.SubOrchestrationInstanceFailed,
        ):
            task_id = int(ev.get("TaskScheduledId", -1))
        else:
            return
        node = self.by_id.get(task_id)
        if node is None or node.done:
            return
        if node.kind not in act.RETRYING or kind in (
            EventType.TaskCompleted,
            EventType.SubOrchestrationInstanceCompleted,
        ):
            node.done = True
        elif kind is EventType.TimerFired:
            # RetryInterceptor: the task ends after the timer that follows the last attempt
            timer = self.scheduled.get(task_id)
            attempt = self.scheduled.get(int(timer.get("RetryFor", -1))) if timer else None
            if attempt is not None:
                node.done = int(attempt.get("Attempt", 1)) >= int(attempt.get("RetryMax", 1))


MAX_CUSTOM_STATUS_KB = 16  # DurableOrchestrationContext.SetCustomStatus L225-229


def serialize_custom_status(value: object) -> tuple[str, str | None]:
    """(JSON text, error): SetCustomStatus serializes with MessagePayloadDataConverter and
    refuses more than 16 KB of UTF-16 (MessagePayloadDataConverter.cs L41-72); the shim calls
    it before replaying any action (OutOfProcOrchestrationShim.cs L77-83)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size_kb = int(len(text.encode("utf-16-le")) / 1024)
    if size_kb > MAX_CUSTOM_STATUS_KB:
        return text, (
            "The UTF-16 size of the JSON-serialized payload must not exceed "
            f"{MAX_CUSTOM_STATUS_KB:,} KB. The current payload size is {size_kb:,} KB."
        )
    return text, None
