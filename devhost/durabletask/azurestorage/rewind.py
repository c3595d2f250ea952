"""Rewind (AzureTableTrackingStore.RewindHistoryAsync L282-411, DurableTask.AzureStorage
v1.17.5): a failed execution's failures are turned into GenericEvent rows that replay ignores,
so the orchestrator schedules the failed work again.

In the failed instance's current execution, each TaskFailed and its TaskScheduled, each
SubOrchestrationInstanceFailed, and the failed ExecutionCompleted become GenericEvent with
Reason "Rewound: {EventType}"; a failed sub-orchestration's SubOrchestrationInstanceCreated keeps
its type (only marked "Rewound: ...") and the child is rewound the same way, recursively. Each
rewound row goes Pending (UpdateStatusForRewindAsync L935-962). The deepest failed instances
("failed leaves") then get a GenericEvent message that wakes them
(AzureStorageOrchestrationService.RewindTaskOrchestrationAsync L1882-1902).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from devhost.durabletask.azurestorage.storage import Tracking
from devhost.durabletask.model.history import Event, EventType, as_event
from devhost.durabletask.model.state import Instance
from devhost.durabletask.model.status import RuntimeStatus

REWOUND_FAILURES = {EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed}


def _rewound(ev: Event, *, keep_type: bool = False) -> Event:
    out = as_event(dict(ev))
    out["Reason"] = f"Rewound: {EventType(ev['EventType']).name}"
    if not keep_type:
        out["EventType"] = int(EventType.GenericEvent)
    return out


async def rewind_history(
    tracking: Tracking, instance_id: str, now: Callable[[], datetime], leaves: list[str]
) -> list[str]:
    """Rewind `instance_id` (and its failed children); returns the failed leaves."""
    execution, history = await tracking.read_history(instance_id)
    if execution is None:
        return leaves
    events = list(history)
    index = {
        int(e["EventId"]): i
        for i, e in enumerate(events)
        if e["EventType"] in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated)
    }
    children: list[str] = []
    for i, ev in enumerate(history):
        kind = EventType(ev["EventType"])
        failed_end = kind is EventType.ExecutionCompleted and ev.get("OrchestrationStatus") == (
            RuntimeStatus.Failed
        )
        if not (failed_end or kind in REWOUND_FAILURES):
            continue
        cause = index.get(int(ev.get("TaskScheduledId", -1)))
        if kind is EventType.TaskFailed and cause is not None:
            events[cause] = _rewound(events[cause])
        elif kind is EventType.SubOrchestrationInstanceFailed and cause is not None:
            events[cause] = _rewound(events[cause], keep_type=True)
            children.append(str(events[cause]["InstanceId"]))
        events[i] = _rewound(ev)
    await tracking.replace_history(instance_id, execution, events)
    row = await tracking.read_instance(instance_id)
    if row is not None:
        inst = Instance.from_row(instance_id, row)
        inst.status, inst.updated = RuntimeStatus.Pending, now()
        await tracking.update_instance(instance_id, inst.row())
    for child in children:
        await rewind_history(tracking, child, now, leaves)
    if not children:
        leaves.append(instance_id)
    return leaves
