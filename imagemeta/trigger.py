"""What the blob trigger does with a new blob version: filter, reference, start once."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from imagemeta.blobref import BlobRef, is_supported_name
from imagemeta.textsafe import escape_text

log = logging.getLogger(__name__)

ORCHESTRATOR = "OrchestratorFunction"
_ACTIVE = {"Pending", "Running", "Suspended", "ContinuedAsNew"}


class Starter(Protocol):
    """The parts of DurableOrchestrationClient the trigger uses."""

    async def get_status(self, instance_id: str) -> Any: ...
    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str: ...


def _status_name(status: Any) -> str | None:
    runtime = getattr(status, "runtime_status", None)
    return getattr(runtime, "value", runtime) if runtime is not None else None


async def start_for_blob(client: Starter, ref: BlobRef) -> str | None:
    """Start the orchestration for this blob version unless one exists; returns the id started.

    The id is derived from name + ETag, so a re-fired trigger finds the earlier instance and
    does nothing (starting it again would overwrite a finished instance in the real extension).
    """
    if not is_supported_name(ref.name):
        log.info(
            "Skipping %s/%s: not a .jpg, .jpeg, .png or .gif",
            escape_text(ref.container),
            escape_text(ref.name),
        )
        return None
    instance_id = ref.instance_id
    existing = _status_name(await client.get_status(instance_id))
    if existing is not None:
        log.info(
            "Duplicate trigger for %s (%s): instance %s is %s",
            escape_text(ref.name),
            escape_text(ref.etag),
            instance_id,
            existing,
        )
        return None
    try:
        await client.start_new(ORCHESTRATOR, instance_id, ref.to_dict())
    except Exception:
        # A concurrent firing may have started it between our check and our start.
        if _status_name(await client.get_status(instance_id)) in _ACTIVE | {"Completed"}:
            log.info(
                "Duplicate trigger for %s: instance %s already started",
                escape_text(ref.name),
                instance_id,
            )
            return None
        raise
    log.info(
        "Started %s for %s/%s (%s bytes)",
        instance_id,
        escape_text(ref.container),
        escape_text(ref.name),
        ref.length,
    )
    return instance_id
