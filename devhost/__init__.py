"""devhost: a local Azure Functions host for v1-model (function.json) Python apps.

Runs the same function folders as `func start`, against Azurite, with a Durable Functions
engine that keeps its task hub in Azure Table Storage and queues. Never deployed.
"""
