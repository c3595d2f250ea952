"""Orchestrator: ExtractMetadata then StoreMetadata, with retries (logic in imagemeta)."""

import azure.durable_functions as df

from imagemeta.orchestration import process_image

main = df.Orchestrator.create(process_image)
