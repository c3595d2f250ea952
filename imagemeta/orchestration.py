"""The orchestrator's logic: extract, then store, each with its own retry policy.

A generator driven by the Durable SDK, so it must be deterministic: no clocks, no I/O, no
randomness. An unreadable image is an expected outcome (completed, status "rejected"), not a
failure; a store that keeps failing after its retries fails the orchestration visibly so it
can be restarted (`python -m imagemeta.reprocess --failed`, locally or against a deployed app;
`python -m devhost restart-failed`; or the SDK's `client.restart`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from imagemeta.blobref import MAX_NAME_LENGTH, BlobRef, InvalidReference
from imagemeta.contract import CONFIGURATION_ERROR
from imagemeta.textsafe import escape_text

EXTRACT = "ExtractMetadata"
STORE = "StoreMetadata"
EXTRACT_RETRY = df.RetryOptions(
    first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3
)
STORE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=5)


class StoreConfigurationError(RuntimeError):
    """StoreMetadata reported a wrong SqlConnectionString: the instance fails at once, with
    the reason as its output, and `restart-failed` runs it again once the setting is fixed."""


def _rejected(blob: object, reason: str) -> dict[str, Any]:
    name = blob if isinstance(blob, str) and len(blob) <= MAX_NAME_LENGTH else None
    return {"blob": name, "status": "rejected", "reason": reason}


def _undecodable(exc: BaseException) -> str:
    """The reason for input `context.get_input()` cannot decode.

    The SDK decodes the input text with json.loads and azure.functions' custom-object hook
    (azure/functions/_durable_functions.py df_loads, _deserialize_custom_object). It raises on
    text that is not JSON (a start body `"x"` is stored as the text x), on numbers past
    Python's 4,300-digit limit (ValueError), on nesting past the recursion limit
    (RecursionError), and on any object carrying "__class__", "__module__" and "__data__":
    ValueError when the module is not loaded, AttributeError when the class is missing,
    TypeError without from_json, or whatever that class's from_json raises.
    """
    detail = escape_text(str(exc).splitlines()[0] if str(exc) else "", 120)
    return f"invalid orchestration input: not decodable ({type(exc).__name__}: {detail})"


def process_image(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Extract then store one blob version; an invalid input completes as "rejected".

    Anyone with the host's system key can start this orchestrator with any input through the
    Durable HTTP API, so the input is validated (a pure, deterministic check) before any
    activity runs; ExtractMetadata validates it again and trusts storage, not the input.
    Input the SDK cannot even decode is a rejection too, never a Failed instance that
    `restart-failed` would offer to run again.
    """
    try:
        raw = context.get_input()
    except Exception as exc:  # whatever the SDK's decoder raises: see _undecodable
        context.set_custom_status({"step": "rejected", "blob": None})
        return _rejected(None, _undecodable(exc))
    try:
        ref = BlobRef.from_dict(raw)
    except InvalidReference as exc:
        context.set_custom_status({"step": "rejected", "blob": None})
        blob = raw.get("name") if isinstance(raw, dict) else None
        return _rejected(blob, f"invalid orchestration input: {exc.reason}")
    name = ref.name
    context.set_custom_status({"step": "extracting", "blob": name})
    extracted = yield context.call_activity_with_retry(EXTRACT, EXTRACT_RETRY, ref.to_dict())
    if extracted.get("rejected"):
        context.set_custom_status({"step": "rejected", "blob": name})
        return _rejected(name, str(extracted.get("reason")))
    metadata = extracted["metadata"]
    context.set_custom_status({"step": "storing", "blob": name})
    outcome = yield context.call_activity_with_retry(STORE, STORE_RETRY, metadata)
    if isinstance(outcome, dict) and CONFIGURATION_ERROR in outcome:
        context.set_custom_status({"step": "configuration error", "blob": name})
        raise StoreConfigurationError(f"{STORE}: configuration error, not retried: "
                                      f"{outcome[CONFIGURATION_ERROR]}")  # fmt: skip
    context.set_custom_status({"step": outcome, "blob": name})
    return {"blob": name, "status": outcome, "metadata": metadata}
