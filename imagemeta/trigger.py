"""What the blob trigger does with a new blob version: filter, reference, start once.

The reprocess tool (imagemeta.reprocess) starts orchestrations through the same
`start_version`, so a version it starts gets the id and input the trigger would give, and a
race between the two ends in one instance (and, through the idempotent INSERT, one row).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, Protocol

from imagemeta.blobref import BlobRef, is_supported_name
from imagemeta.textsafe import escape_text

log = logging.getLogger(__name__)

ORCHESTRATOR = "OrchestratorFunction"
ACTIVE = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})
FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class Starter(Protocol):
    """The parts of DurableOrchestrationClient the trigger uses."""

    async def get_status(self, instance_id: str) -> Any: ...
    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str: ...


class Start(Enum):
    STARTED = "started"
    EXISTS = "exists"  # an instance for this version exists (or another client just started it)


def status_name(status: Any) -> str | None:
    """The runtime status of a get_status answer (SDK object or a plain one), None if unknown."""
    runtime = getattr(status, "runtime_status", None)
    return getattr(runtime, "value", runtime) if runtime is not None else None


async def start_version(
    client: Starter, ref: BlobRef, existing: str | None, *, replace: frozenset[str] = frozenset()
) -> Start:
    """Start the orchestration for this blob version under its deterministic id.

    `existing` is the instance's status as just read (None: no instance). An existing instance
    is left alone unless its status is in `replace` (finished states only: starting on a
    finished id overwrites it in the real extension, on an active one it is refused).
    """
    if existing is not None and existing not in replace & FINISHED:
        return Start.EXISTS
    try:
        await client.start_new(ORCHESTRATOR, ref.instance_id, ref.to_dict())
    except Exception:
        # A concurrent start (the trigger, another reprocess) may have won between the status
        # read and this start: the instance it started is the one for this version.
        now = status_name(await client.get_status(ref.instance_id))
        if now in ACTIVE or (now == "Completed" and existing is None):
            return Start.EXISTS
        raise
    return Start.STARTED


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
    existing = status_name(await client.get_status(instance_id))
    if await start_version(client, ref, existing) is Start.EXISTS:
        if existing is not None:
            log.info(
                "Duplicate trigger for %s (%s): instance %s is %s",
                escape_text(ref.name),
                escape_text(ref.etag),
                instance_id,
                existing,
            )
        else:
            log.info(
                "Duplicate trigger for %s: instance %s already started",
                escape_text(ref.name),
                instance_id,
            )
        return None
    log.info(
        "Started %s for %s/%s (%s bytes)",
        instance_id,
        escape_text(ref.container),
        escape_text(ref.name),
        ref.length,
    )
    return instance_id
