"""The host.json settings devhost honours, read and validated the way the real host reads them.

The Functions host loads host.json as configuration under `AzureFunctionsJobHost` and lays the
environment over it, so an app setting `AzureFunctionsJobHost__a__b` replaces host.json's
`a.b` (azure-functions-host HostJsonFileConfigurationSource.cs + the environment configuration
source); keys compare ignoring case, and values from the environment are strings the options
binder converts. `overlay` and `lookup` do the same. Each setting is then validated with the
message of the options class that owns it, so a value Azure refuses at start is refused here at
start (one line, exit 2) instead of misbehaving later.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from devhost import timespan

JOBHOST_PREFIX = "AzureFunctionsJobHost__"

# AzureStorageOptions.cs / AzureStorageOrchestrationServiceSettings.cs defaults.
DEFAULT_PARTITIONS = 4
DEFAULT_CONTROL_BATCH = 32
MAX_CONTROL_BATCH = 32  # AzureStorageOrchestrationService's constructor check
DEFAULT_BUFFER_THRESHOLD = 256
# devhost's own defaults where it keeps a shorter wait than Azure's 5 minutes: a killed host's
# messages come back in seconds (only used when host.json does not set the timeout).
DEVHOST_CONTROL_VISIBILITY = 30.0
DEVHOST_WORKITEM_VISIBILITY = 60.0
DEFAULT_ROUTE_PREFIX = "api"  # HttpOptions.RoutePrefix


class SettingError(Exception):
    """A host.json value the real host refuses at start; the message is the one line shown."""


def cpu_count() -> int:
    return os.cpu_count() or 1


def overlay(host_json: Mapping[str, Any], settings: Mapping[str, str]) -> dict[str, Any]:
    """host.json with every `AzureFunctionsJobHost__a__b` setting laid over it (later wins,
    keys matched ignoring case as .NET configuration matches them)."""
    merged: dict[str, Any] = copy.deepcopy(dict(host_json))
    for name, value in settings.items():
        if not name.lower().startswith(JOBHOST_PREFIX.lower()):
            continue
        parts = [p for p in name[len(JOBHOST_PREFIX) :].split("__") if p]
        node = merged
        for part in parts[:-1]:
            key = _find_key(node, part) or part
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        if parts:
            node[_find_key(node, parts[-1]) or parts[-1]] = value
    return merged


def _find_key(node: Mapping[str, Any], name: str) -> str | None:
    return next((k for k in node if k.lower() == name.lower()), None)


def lookup(host_json: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, keys matched ignoring case; None when absent."""
    node: Any = host_json
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        key = _find_key(node, part)
        if key is None:
            return None
        node = node[key]
    return node


def _int(path: str, value: Any) -> int:
    if isinstance(value, bool):
        raise SettingError(f"host.json {path}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise SettingError(f"host.json {path}: expected an integer, got {value!r}")


def parse_timespan(path: str, value: Any) -> float:
    """Seconds in a host.json time span; a JSON number is refused, as the host's binder does
    (it reads the setting as a string for TimeSpan.Parse, devhost/timespan.py)."""
    if isinstance(value, bool | int | float):
        raise SettingError(f"host.json {path}: expected a time span like 00:00:30, got {value!r}")
    try:
        return timespan.parse_timespan(str(value))
    except timespan.TimeSpanError as exc:
        if exc.out_of_range:
            raise SettingError(f"host.json {path}: {value!r} is not a valid time span") from None
        raise SettingError(
            f"host.json {path}: expected a time span like 00:00:30, got {value!r}"
        ) from None


DURABLE = "extensions.durableTask"
STORAGE = "extensions.durableTask.storageProvider"


@dataclass(frozen=True)
class DurableSettings:
    """What the Durable extension's options resolve to for this app."""

    max_activities: int
    max_orchestrations: int
    partitions: int = DEFAULT_PARTITIONS
    control_batch: int = DEFAULT_CONTROL_BATCH
    max_poll_interval: float | None = None  # None: devhost's --poll-interval
    control_visibility: float = DEVHOST_CONTROL_VISIBILITY
    workitem_visibility: float = DEVHOST_WORKITEM_VISIBILITY

    def engine_options(self, poll_interval: float) -> dict[str, Any]:
        """DurableEngine's keyword arguments (`poll_interval`: devhost's --poll-interval, used
        unless maxQueuePollingInterval is set)."""
        return {
            "poll_interval": self.max_poll_interval or poll_interval,
            "activity_concurrency": self.max_activities,
            "orchestration_concurrency": self.max_orchestrations,
            "partitions": self.partitions,
            "control_batch": self.control_batch,
            "control_visibility": math.ceil(self.control_visibility),
            "activity_visibility": math.ceil(self.workitem_visibility),
        }


def durable_settings(host_json: Mapping[str, Any]) -> DurableSettings:
    """DurableTaskOptions.Validate + AzureStorageOptions.Validate, with the defaults of
    AzureStorageDurabilityProviderFactory (10 x processors each, outside Consumption)."""

    def num(path: str, default: int) -> int:
        raw = lookup(host_json, path)
        return default if raw is None else _int(path, raw)

    def span(path: str) -> float | None:
        raw = lookup(host_json, path)
        return None if raw is None else parse_timespan(path, raw)

    concurrency = {}
    for key in ("maxConcurrentActivityFunctions", "maxConcurrentOrchestratorFunctions"):
        concurrency[key] = num(f"{DURABLE}.{key}", 10 * cpu_count())
        if concurrency[key] <= 0:  # DurableTaskOptions.Validate
            raise SettingError(f"{key[0].upper()}{key[1:]} must be a positive integer value.")
    batch = num(f"{STORAGE}.controlQueueBatchSize", DEFAULT_CONTROL_BATCH)
    _check(batch > 0, "ControlQueueBatchSize must be a non-negative integer.")
    _check(batch <= MAX_CONTROL_BATCH, "The control queue batch size must not exceed 32.")
    partitions = num(f"{STORAGE}.partitionCount", DEFAULT_PARTITIONS)
    _check(1 <= partitions <= 16, "PartitionCount must be an integer value between 1 and 16.")
    control = span(f"{STORAGE}.controlQueueVisibilityTimeout")
    _check(
        control is None or 60 <= control <= 3600,
        "ControlQueueVisibilityTimeout must be between 1 and 60 minutes.",
    )
    poll = span(f"{STORAGE}.maxQueuePollingInterval")
    _check(poll is None or poll > 0, "MaxQueuePollingInterval must be non-negative.")
    threshold = num(f"{STORAGE}.controlQueueBufferThreshold", DEFAULT_BUFFER_THRESHOLD)
    _check(1 <= threshold <= 1000, "ControlQueueBufferThreshold must be between 1 and 1000.")
    workitem = span(f"{STORAGE}.workItemQueueVisibilityTimeout")
    _check(
        workitem is None or workitem > 0,
        f"host.json {STORAGE}.workItemQueueVisibilityTimeout must be more than 0",
    )
    return DurableSettings(
        max_activities=concurrency["maxConcurrentActivityFunctions"],
        max_orchestrations=concurrency["maxConcurrentOrchestratorFunctions"],
        partitions=partitions,
        # The buffer threshold caps what is held in memory; devhost holds one batch.
        control_batch=min(batch, threshold),
        max_poll_interval=poll,
        control_visibility=DEVHOST_CONTROL_VISIBILITY if control is None else control,
        workitem_visibility=DEVHOST_WORKITEM_VISIBILITY if workitem is None else workitem,
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SettingError(message)


def blob_parallelism(host_json: Mapping[str, Any]) -> int:
    """BlobsOptions.MaxDegreeOfParallelism: 8 x processors unless set; must be positive."""
    raw = lookup(host_json, "extensions.blobs.maxDegreeOfParallelism")
    value = 8 * cpu_count() if raw is None else _int("extensions.blobs.maxDegreeOfParallelism", raw)
    if value <= 0:
        raise SettingError(
            "host.json extensions.blobs.maxDegreeOfParallelism: the value must be greater "
            "than 0 (BlobsOptions)"
        )
    return value


def route_prefix(host_json: Mapping[str, Any]) -> str:
    """HttpOptions.RoutePrefix: "api" unless set; "" puts routes at the root."""
    raw = lookup(host_json, "extensions.http.routePrefix")
    return DEFAULT_ROUTE_PREFIX if raw is None else str(raw).strip("/")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


F = TypeVar("F", bound=_Named)


def apply_allow_list(loaded: list[F], host_json: Mapping[str, Any], log: logging.Logger) -> list[F]:
    """FunctionMetadataManager.ApplyAllowList, with its log line."""
    allow = function_allow_list(host_json)
    if allow is None:
        return loaded
    log.info(
        "A function allow list has been specified, excluding all but the following functions: [%s]",
        ", ".join(allow),
    )
    wanted = {n.lower() for n in allow}
    return [f for f in loaded if f.name.lower() in wanted]


def app_route_prefixes(prefix: str, routes: Sequence[str]) -> tuple[str, ...]:
    """The paths that are the app's own httpTrigger routes (the guard's open prefixes): the
    route prefix, or with an empty prefix each route's literal start (a catch-all route keeps
    the guard's checks rather than open every path)."""
    if prefix:
        return (f"/{prefix}/",)
    starts = {"/" + route.strip("/").split("{", 1)[0] for route in routes}
    return tuple(sorted(starts - {"/"}))


def function_allow_list(host_json: Mapping[str, Any]) -> list[str] | None:
    """ScriptJobHostOptions.Functions: only these functions load (names ignoring case)."""
    raw = lookup(host_json, "functions")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise SettingError('host.json "functions" must be a list of function names')
    return list(raw)


LOG_LEVELS = {
    "trace": 5,
    "debug": 10,
    "information": 20,
    "warning": 30,
    "error": 40,
    "critical": 50,
    "none": 100,
}


def log_levels(host_json: Mapping[str, Any]) -> dict[str, int]:
    """logging.logLevel as category -> Python level (keys lower-cased; "default" included)."""
    raw = lookup(host_json, "logging.logLevel") or {}
    if not isinstance(raw, Mapping):
        raise SettingError("host.json logging.logLevel must be an object of category: level")
    levels = {}
    for category, level in raw.items():
        found = LOG_LEVELS.get(str(level).strip().lower())
        if found is None:
            raise SettingError(
                f"host.json logging.logLevel.{category}: {level!r} is not one of Trace, Debug, "
                "Information, Warning, Error, Critical, None"
            )
        levels[str(category).lower()] = found
    return levels
