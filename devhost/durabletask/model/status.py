"""Runtime statuses, and the one definition of active and terminal.

DurableTask.Core's `OrchestrationStatus` names are what the Instances table stores and what the
HTTP API returns; azure-functions-durable mirrors them as `OrchestrationRuntimeStatus`. A
StrEnum, so a status read from a row or a JSON reply compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ACTIVE", "TERMINAL", "RuntimeStatus"]


class RuntimeStatus(StrEnum):
    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Canceled = "Canceled"
    Terminated = "Terminated"
    Pending = "Pending"
    Suspended = "Suspended"


ACTIVE: frozenset[str] = frozenset(
    {
        RuntimeStatus.Pending,
        RuntimeStatus.Running,
        RuntimeStatus.Suspended,
        RuntimeStatus.ContinuedAsNew,
    }
)
TERMINAL: frozenset[str] = frozenset(
    {RuntimeStatus.Completed, RuntimeStatus.Failed, RuntimeStatus.Terminated}
)
