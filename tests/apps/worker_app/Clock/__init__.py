"""An orchestrator whose output JSON cannot encode."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return context.current_utc_datetime
    yield


main = df.Orchestrator.create(orchestrator)
