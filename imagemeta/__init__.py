"""Image-metadata pipeline library: everything the four function folders call.

No Azure Functions types live here (except `orchestration`, which receives the SDK's
DurableOrchestrationContext), so each step is testable with plain values.
"""
