"""`functionTimeout` as the Functions host reads, checks and enforces it.

azure-functions-host 89dc438d `ScriptJobHostOptionsSetup.cs` L18-21 and L97-137: unset, the
timeout is 5 minutes on a Consumption plan (`WEBSITE_SKU=Dynamic`) and 30 minutes elsewhere
(local runs included); "-1" (TimeSpan.Parse: minus one day) means none where the plan allows
it (not Consumption); anything else must lie between 1 second and TimeSpan.MaxValue (10 minutes
on Consumption), or the host does not start. `JobHostFunctionTimeoutOptionsSetup.cs` turns it
into the WebJobs timeout with ThrowOnTimeout, so an invocation that runs past it fails with
`FunctionTimeoutException` (azure-webjobs-sdk f79ea0bf `FunctionExecutor.cs` L439 logs
"Timeout value of ... exceeded by function ...", L662 throws "Timeout value of ... was exceeded
by function: ..."), and `WebScriptHostExceptionHandler.OnTimeoutExceptionAsync` (L28-61)
restarts the worker process that ran it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devhost.config import ConfigError
from devhost.timespan import format_timespan, parse_timespan

MIN_TIMEOUT = 1.0
DEFAULT_CONSUMPTION = 5 * 60.0
MAX_CONSUMPTION = 10 * 60.0
DEFAULT_TIMEOUT = 30 * 60.0
TIMESPAN_MAX = "10675199.02:48:05.4775807"  # TimeSpan.MaxValue, as .NET prints it
# The host overlays host.json with AzureFunctionsJobHost__<path> settings.
OVERRIDE = "AzureFunctionsJobHost__functionTimeout"


@dataclass(frozen=True)
class FunctionTimeouts:
    """The limit this host enforces, and what a Consumption plan would enforce instead."""

    limit: float | None  # seconds; None: no limit ("-1" off Consumption)
    consumption: float | None  # seconds; None: Azure's Consumption host would not start
    configured: str | None  # the raw setting, for messages

    @property
    def watch_consumption(self) -> float | None:
        """When to say that a Consumption plan would have failed the invocation by now."""
        if self.consumption is None:
            return None
        if self.limit is not None and self.limit <= self.consumption:
            return None
        return self.consumption

    def start_note(self) -> str | None:
        """One line at start when the configured value would stop the host on Consumption."""
        if self.configured is None or self.consumption is not None:
            return None
        return (
            f"functionTimeout '{self.configured}' is outside 00:00:01-00:10:00: on a "
            "Consumption plan Azure's host will not start (FunctionTimeout must be greater "
            "than 00:00:01 and less than 00:10:00.)"
        )


def function_timeouts(
    host_json: Mapping[str, Any], settings: Mapping[str, str]
) -> FunctionTimeouts:
    """Read and check `functionTimeout` as ScriptJobHostOptionsSetup does; devhost's own plan
    is Consumption only when WEBSITE_SKU says Dynamic (as the host's IsConsumptionSku)."""
    raw = settings.get(OVERRIDE) or host_json.get("functionTimeout")
    dynamic = settings.get("WEBSITE_SKU", "") == "Dynamic"
    if raw is None or raw == "":
        local = DEFAULT_CONSUMPTION if dynamic else DEFAULT_TIMEOUT
        return FunctionTimeouts(local, DEFAULT_CONSUMPTION, None)
    text = str(raw)
    try:
        value = parse_timespan(text)
    except ValueError:
        raise ConfigError(
            f"host.json functionTimeout '{text}' is not a TimeSpan (hh:mm:ss, d.hh:mm:ss, or "
            "-1 for none): the host cannot start"
        ) from None
    on_consumption = value if MIN_TIMEOUT <= value <= MAX_CONSUMPTION else None
    if not dynamic and value == -86400.0:
        return FunctionTimeouts(None, on_consumption, text)
    maximum = MAX_CONSUMPTION if dynamic else None
    if value < MIN_TIMEOUT or (maximum is not None and value > maximum):
        upper = format_timespan(maximum) if maximum is not None else TIMESPAN_MAX
        raise ConfigError(
            f"host.json functionTimeout '{text}': FunctionTimeout must be greater than "
            f"00:00:01 and less than {upper}."
        )
    return FunctionTimeouts(value, on_consumption, text)
