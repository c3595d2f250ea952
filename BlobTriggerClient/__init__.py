"""Blob trigger: start one OrchestratorFunction per new image blob version (a reference only)."""

import logging

import azure.durable_functions as df
import azure.functions as func

from imagemeta.blobref import blobref_from_trigger, is_supported_name
from imagemeta.trigger import start_for_blob


async def main(myblob: func.InputStream, starter: str) -> None:
    name = myblob.name or ""
    if not is_supported_name(name):
        logging.info("Skipping %s: not a .jpg, .jpeg, .png or .gif", name)
        return
    ref = blobref_from_trigger(name, myblob.uri, myblob.length, myblob.blob_properties)
    client = df.DurableOrchestrationClient(starter)
    await start_for_blob(client, ref)
