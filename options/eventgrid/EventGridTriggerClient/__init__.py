"""Optional trigger: start the orchestration from a BlobCreated event, never the blob's bytes.

Deploy by copying this folder next to BlobTriggerClient/ and setting
AzureWebJobs.BlobTriggerClient.Disabled=true (README, "Big blobs and the trigger").
"""

import logging

import azure.durable_functions as df
import azure.functions as func

from imagemeta.blobref import InvalidReference
from imagemeta.eventgrid import blobref_from_event
from imagemeta.trigger import start_for_blob


async def main(event: func.EventGridEvent, starter: str) -> None:
    try:
        ref = blobref_from_event(event.event_type, event.subject, event.get_json())
    except InvalidReference as exc:
        logging.info("Ignoring event %s (%s): %s", event.id, event.subject, exc.reason)
        return
    await start_for_blob(df.DurableOrchestrationClient(starter), ref)
