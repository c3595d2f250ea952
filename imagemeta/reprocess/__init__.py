"""`python -m imagemeta.reprocess`: bring ImageMetadata back in line with images-input.

The blob trigger's receipts mark every blob version as done, so after a lost or replaced
database, a fixed extraction bug or blobs uploaded while the app was stopped, nothing fires
again. This operator tool lists the container and starts OrchestratorFunction for the versions
that need it, with the trigger's own instance id and input (imagemeta.trigger.start_version),
through the app's Durable HTTP API: locally devhost, or a deployed app with its system key.
It is not part of the deployment package (scripts/build_package.py leaves this folder out).
"""
