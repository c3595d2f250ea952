"""An in-memory task hub: the AzureStorage provider's logic (service, session manager, client)
over in-memory tables and queues, with an injected clock and fault points.

It exists for fast, deterministic unit tests of the dispatchers, the checkpoint order, the
crash repair and the client operations (DurableTask.Core's own tests run the dispatchers over
an in-memory `LocalOrchestrationService` the same way). devhost never serves from it.
"""

from __future__ import annotations

from devhost.durabletask.memory.backend import Crash, FaultPlan, MemoryTaskHub

__all__ = ["Crash", "FaultPlan", "MemoryTaskHub"]
