"""The orchestrator's logic: extract, then store, each with its own retry policy.

A generator driven by the Durable SDK, so it must be deterministic: no clocks, no I/O, no
randomness. An unreadable image is an expected outcome (completed, status "rejected"), not a
failure; a store that keeps failing after its retries fails the orchestration visibly so it
can be restarted (`python -m devhost restart-failed`, or the SDK's `client.restart`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

EXTRACT = "ExtractMetadata"
STORE = "StoreMetadata"
EXTRACT_RETRY = df.RetryOptions(
    first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3
)
STORE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=5)


def process_image(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    ref = context.get_input()
    if not isinstance(ref, dict) or "name" not in ref:
        return {
            "blob": None,
            "status": "rejected",
            "reason": "orchestration input is not a blob reference",
        }
    name = ref["name"]
    context.set_custom_status({"step": "extracting", "blob": name})
    extracted = yield context.call_activity_with_retry(EXTRACT, EXTRACT_RETRY, ref)
    if extracted.get("rejected"):
        context.set_custom_status({"step": "rejected", "blob": name})
        return {"blob": name, "status": "rejected", "reason": extracted.get("reason")}
    metadata = extracted["metadata"]
    context.set_custom_status({"step": "storing", "blob": name})
    outcome = yield context.call_activity_with_retry(STORE, STORE_RETRY, metadata)
    context.set_custom_status({"step": outcome, "blob": name})
    return {"blob": name, "status": outcome, "metadata": metadata}
