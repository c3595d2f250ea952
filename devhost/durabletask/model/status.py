"""Runtime statuses: the SDK's own enum, and the one definition of active and terminal.

DurableTask.Core's `OrchestrationStatus` names are what the Instances table stores and what the
HTTP API returns; azure-functions-durable mirrors them as `OrchestrationRuntimeStatus`.
"""

from __future__ import annotations

from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as RuntimeStatus,
)

__all__ = ["ACTIVE", "TERMINAL", "RuntimeStatus", "is_terminal"]

ACTIVE: frozenset[str] = frozenset(
    s.value
    for s in (
        RuntimeStatus.Pending,
        RuntimeStatus.Running,
        RuntimeStatus.Suspended,
        RuntimeStatus.ContinuedAsNew,
    )
)
TERMINAL: frozenset[str] = frozenset(
    s.value for s in (RuntimeStatus.Completed, RuntimeStatus.Failed, RuntimeStatus.Terminated)
)


def is_terminal(status: object) -> bool:
    """True for a status string (row or HTTP JSON) that no longer changes without a restart."""
    return str(status) in TERMINAL
