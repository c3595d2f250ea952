"""The .NET exceptions the extension's HTTP API maps to status codes, as Python types the core,
the backends and the webhooks share (`dotnet_type` is what the 500 body names)."""

from __future__ import annotations


class OrchestrationConflict(Exception):
    """An instance with this id is still Pending/Running (the real extension refuses too)."""

    dotnet_type = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"


class ArgumentError(ValueError):
    """What the extension raises as ArgumentException: its HTTP API answers 400."""

    dotnet_type = "System.ArgumentException"


class UnknownOrchestrator(ArgumentError):
    pass


class InvalidOperation(Exception):
    """InvalidOperationException: the HTTP API's catch-all answers 500."""

    dotnet_type = "System.InvalidOperationException"
