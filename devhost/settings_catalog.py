"""Every host.json key and Python app setting, and what devhost does with it.

The key list is the JSON Schema Store's host.json schema (https://json.schemastore.org/host.json,
copied to tests/devhost/schemas/host.schema.json; tests/devhost/test_settings_catalog.py fails on
any schema key this table does not cover), plus the Durable extension's options the schema lacks
(DurableTaskOptions.cs, AzureStorageOptions.cs) and the app settings documented for Python apps.

Each entry covers a dotted path and everything under it (the most specific entry wins):
- HONOURED: devhost does what Azure does (hostsettings.py and the modules it names).
- ANNOUNCED: devhost does not; when the app sets the key, one line at start says so and what
  Azure does instead.
- REFUSED: devhost cannot run the app as Azure would; start stops with one line (exit 2).
`accepts` marks values that need no line (a value that matches what devhost does anyway).
A key that is in no table and not in the schema is announced as unknown (Azure ignores it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    HONOURED = "honoured"
    ANNOUNCED = "announced"
    REFUSED = "refused"


@dataclass(frozen=True)
class Entry:
    path: str  # dotted, compared ignoring case; covers everything under it
    verdict: Verdict
    note: str  # honoured: where; announced/refused: what Azure does instead
    accepts: Callable[[Any], bool] | None = None


H, A, R = Verdict.HONOURED, Verdict.ANNOUNCED, Verdict.REFUSED
NO_EXTENSION = (
    "devhost has no {0} extension: functions with {0} bindings are refused at load, so the "
    "setting changes nothing here; Azure applies it to those bindings"
)


def _false(value: Any) -> bool:
    return str(value).strip().lower() == "false"


def _is(*allowed: str) -> Callable[[Any], bool]:
    return lambda value: str(value).strip().lower() in {a.lower() for a in allowed}


# fmt: off
HOST_JSON: tuple[Entry, ...] = (
    Entry("version", H, 'must be "2.0" (config.load_config), as the v4 host requires'),
    Entry("functionTimeout", H, "enforced per invocation as the host does (devhost/timeouts.py); "
          "30 min when unset"),
    Entry("functions", H, "only the listed functions load, names ignoring case "
          "(FunctionMetadataManager.ApplyAllowList)"),
    Entry("extensionBundle", A, "devhost has the bundle's Durable, blob, queue and HTTP "
          "bindings built in and does not resolve the bundle; Azure loads the newest bundle "
          "version in the range"),
    Entry("aggregator", A, "devhost writes no Host.Aggregator summaries; Azure aggregates "
          "invocation counts for Application Insights"),
    Entry("healthMonitor", A, "devhost never recycles itself; Azure restarts the host when its "
          "health checks fail this often"),
    Entry("languageWorker", A, "devhost runs Python functions in its own process; Azure starts "
          "the worker found in this directory"),
    Entry("logging.logLevel", H, "console lines filtered by category (devhost/loglevels.py); "
          "an app's own records are category Function.User, so a rule for one function's "
          "Function.<Name>.User is not applied"),
    Entry("logging.fileLoggingMode", A, "devhost logs to the console only; Azure writes log "
          "files as this mode says"),
    Entry("logging.applicationInsights", A, "devhost sends no telemetry; Azure sends it to the "
          "Application Insights resource of APPLICATIONINSIGHTS_CONNECTION_STRING"),
    Entry("logging.console", A, "devhost always logs to its console"),
    Entry("telemetryMode", A, "devhost sends no telemetry (Application Insights or OpenTelemetry)"),
    Entry("managedDependency", H, "PowerShell only: no effect on a Python app, in Azure too"),
    Entry("retry", A, "devhost applies no host-wide retry policy; Azure applies it to the "
          "triggers that support retries (timer, Event Hubs, Kafka, Cosmos DB)"),
    Entry("sendCanceledInvocationsToWorker", A, "devhost cancels no invocation; Azure tells "
          "the worker about cancelled ones"),
    Entry("singleton", A, "devhost is one host and takes no singleton locks; Azure takes blob "
          "leases with these periods"),
    Entry("watchDirectories", A, "devhost does not restart when files change; Azure and func "
          "start restart the host"),
    Entry("watchFiles", A, "devhost does not restart when files change; Azure and func start "
          "restart the host"),
    Entry("concurrency", A, "devhost uses the static limits (maxConcurrent*, "
          "maxDegreeOfParallelism); Azure adjusts concurrency dynamically"),
    Entry("configurationProfile", A, "devhost applies no configuration profile"),
    Entry("customHandler", R, "devhost runs Python functions only; a custom handler app needs "
          "func start"),
    Entry("extensions", A, "devhost has no such extension; Azure loads it from the bundle"),
    Entry("extensions.blobs.maxDegreeOfParallelism", H, "blob-trigger invocations at once "
          "(BlobsOptions: 8 x processors unless set, > 0)"),
    Entry("extensions.blobs.poisonBlobThreshold", H, "blob trigger poison threshold "
          "(devhost/blobtrigger)"),
    Entry("extensions.queues.messageEncoding", H, "queue output bindings (devhost/bindings.py)"),
    Entry("extensions.queues", A, "devhost has no queueTrigger (refused at load), so these "
          "change nothing here; Azure applies them to queue-triggered functions"),
    Entry("extensions.http.routePrefix", H, "httpTrigger routes under this prefix "
          "(HttpOptions.RoutePrefix, default api)"),
    Entry("extensions.http", A, "devhost's listener guard caps connections itself; Azure "
          "throttles, adds HSTS and custom headers as these settings say"),
    Entry("extensions.cosmosDB", A, NO_EXTENSION.format("Cosmos DB")),
    Entry("extensions.eventHubs", A, NO_EXTENSION.format("Event Hubs")),
    Entry("extensions.serviceBus", A, NO_EXTENSION.format("Service Bus")),
    Entry("extensions.sendGrid", A, NO_EXTENSION.format("SendGrid")),
    Entry("extensions.mcp", A, NO_EXTENSION.format("MCP")),
    Entry("extensions.durableTask.hubName", H, "task hub name, validated as "
          "AzureStorageOptions.ValidateHubName"),
    Entry("extensions.durableTask.maxConcurrentActivityFunctions", H, "activities at once "
          "(DurableTaskOptions; default 10 x processors, AzureStorageDurabilityProviderFactory)"),
    Entry("extensions.durableTask.maxConcurrentOrchestratorFunctions", H, "orchestrator "
          "episodes at once over all control queues (default 10 x processors)"),
    Entry("extensions.durableTask.extendedSessionsEnabled", A, "Durable Functions does not work "
          "with extendedSessions = true for non-.NET languages; Azure sets it to false "
          "(DurableTaskOptions.Validate), as devhost does", _false),
    Entry("extensions.durableTask.extendedSessionIdleTimeoutInSeconds", H, "no effect: "
          "extended sessions are off for Python, in Azure too"),
    Entry("extensions.durableTask.maxEntityOperationBatchSize", H, "no effect: entity "
          "functions are refused at load"),
    Entry("extensions.durableTask.maxConcurrentEntityFunctions", H, "no effect: entity "
          "functions are refused at load"),
    Entry("extensions.durableTask.useAppLease", A, "devhost takes no app lease (one host); "
          "Azure lets one app at a time run the hub"),
    Entry("extensions.durableTask.useTablePartitionManagement", A, "devhost owns every "
          "partition without leases (one host); Azure balances partitions with leases"),
    Entry("extensions.durableTask.useGracefulShutdown", A, "devhost stops at once; Azure with "
          "this waits for running functions before it stops"),
    Entry("extensions.durableTask.tracing", A, "devhost writes no Durable tracking events; "
          "Azure logs them to Application Insights"),
    Entry("extensions.durableTask.notifications", A, "devhost publishes no Event Grid "
          "lifecycle events; Azure publishes them to the topic"),
    Entry("extensions.durableTask.storageProvider.type", R, "devhost implements only the Azure "
          "Storage provider", _is("AzureStorage")),
    Entry("extensions.durableTask.storageProvider.connectionStringName", R, "devhost keeps the "
          "task hub in AzureWebJobsStorage only", _is("AzureWebJobsStorage")),
    Entry("extensions.durableTask.storageProvider.connectionName", R, "devhost keeps the task "
          "hub in AzureWebJobsStorage only", _is("AzureWebJobsStorage")),
    Entry("extensions.durableTask.storageProvider.trackingStoreConnectionStringName", R,
          "devhost keeps History and Instances in AzureWebJobsStorage only"),
    Entry("extensions.durableTask.storageProvider.trackingStoreConnectionName", R,
          "devhost keeps History and Instances in AzureWebJobsStorage only"),
    Entry("extensions.durableTask.storageProvider.trackingStoreNamePrefix", H, "ignored "
          "without trackingStoreConnectionStringName, as in Azure"),
    Entry("extensions.durableTask.storageProvider.partitionCount", H, "the number of control "
          "queues, 1..16 (AzureStorageOptions.Validate)"),
    Entry("extensions.durableTask.storageProvider.controlQueueBatchSize", H, "messages per "
          "control-queue receive, 1..32"),
    Entry("extensions.durableTask.storageProvider.controlQueueBufferThreshold", H, "validated "
          "1..1000; caps the batch devhost holds"),
    Entry("extensions.durableTask.storageProvider.controlQueueVisibilityTimeout", H, "1..60 "
          "min (devhost's default when unset is 30 s, Azure's 5 min)"),
    Entry("extensions.durableTask.storageProvider.workItemQueueVisibilityTimeout", H, "work "
          "items' visibility (devhost's default when unset is 60 s, Azure's 5 min)"),
    Entry("extensions.durableTask.storageProvider.maxQueuePollingInterval", H, "the idle "
          "poll ceiling of the control and work-item queues (> 0)"),
    Entry("extensions.durableTask.storageProvider.useLegacyPartitionManagement", A, "devhost "
          "owns every partition without leases (one host); Azure balances them with leases"),
    Entry("extensions.durableTask.storageProvider.useTablePartitionManagement", A, "devhost "
          "owns every partition without leases (one host); Azure balances them with leases"),
    Entry("extensions.durableTask.storageProvider.fetchLargeMessagesAutomatically", A,
          "devhost always fetches large messages", lambda v: not _false(v)),
    Entry("extensions.durableTask.storageProvider.allowReplayingTerminalInstances", A,
          "devhost drops messages for finished instances", _false),
    # DurableTaskOptions.cs options the schema does not list:
    Entry("extensions.durableTask.httpSettings", A, "devhost's Durable HTTP API polls with "
          "its own interval"),
    Entry("extensions.durableTask.localRpcEndpointEnabled", A, "devhost always serves the "
          "local RPC endpoint the Python SDK needs", lambda v: not _false(v)),
    Entry("extensions.durableTask.maxOrchestrationActions", A, "devhost refuses more than the "
          "default 100000 actions (shim.py); Azure uses this limit", _is("100000")),
    Entry("extensions.durableTask.overridableExistingInstanceStates", A, "devhost lets a new "
          "start replace only a finished instance (NonRunningStates)",
          _is("NonRunningStates")),
    Entry("extensions.durableTask.storeInputsInOrchestrationHistory", A, "devhost does not "
          "store activity inputs in History", _false),
    Entry("extensions.durableTask.throwStatusExceptionsOnRaiseEvent", A, "devhost's "
          "raise_event follows the default for out-of-process apps"),
    Entry("extensions.durableTask.appLeaseOptions", A, "devhost takes no app lease (one host)"),
    Entry("extensions.durableTask.entityMessageReorderWindowInMinutes", H, "no effect: entity "
          "functions are refused at load"),
    Entry("extensions.durableTask.rollbackEntityOperationsOnExceptions", H, "no effect: "
          "entity functions are refused at load"),
)

# Sections whose keys are all listed above: a key under them that is not is unknown (Azure's
# options binder ignores it), not covered by a broader entry such as "extensions".
CLOSED = ("extensions.durableTask", "extensions.durableTask.storageProvider", "extensions.blobs")

APP_SETTINGS: tuple[Entry, ...] = (
    Entry("AzureWebJobsStorage", H, "the storage account of the host, the task hub and bindings"),
    Entry("FUNCTIONS_WORKER_RUNTIME", R, "devhost runs Python functions only; Azure would load "
          "the functions of that language", _is("python")),
    Entry("FUNCTIONS_EXTENSION_VERSION", A, "devhost behaves as Functions v4", _is("~4")),
    Entry("FUNCTIONS_WORKER_PROCESS_COUNT", H, "N-1 extra processes that run activities "
          "(devhost/worker_settings.py)"),
    Entry("PYTHON_THREADPOOL_THREAD_COUNT", H, "the worker's sync thread pool "
          "(default min(32, CPUs + 4))"),
    Entry("AzureFunctionsJobHost__", H, "laid over host.json (hostsettings.overlay); the "
          "host.json key it names is then honoured or announced like the file's"),
    Entry("AzureFunctionsWebHost__hostid", H, "the host id (receipts, blob-trigger queue)"),
    Entry("WEBSITE_SKU", H, "Dynamic applies Consumption's functionTimeout default and maximum"),
    Entry("WEBSITE_SLOT_NAME", H, "a non-production slot refuses the default hub name "
          "(DurableTaskOptions.Validate)"),
    Entry("APPLICATIONINSIGHTS_CONNECTION_STRING", A, "devhost sends no telemetry; Azure "
          "sends logs and traces there"),
    Entry("APPINSIGHTS_INSTRUMENTATIONKEY", A, "devhost sends no telemetry; Azure sends logs "
          "there"),
    Entry("AzureWebJobsFeatureFlags", A, "devhost turns on no feature flag"),
    Entry("AzureWebJobsSecretStorageType", A, "devhost's key is DEVHOST_KEY or --key-file; "
          "Azure keeps function keys in this store"),
    Entry("AzureWebJobsDisableHomepage", A, "devhost's / shows the monitor"),
    Entry("AzureWebJobsScriptRoot", A, "devhost's app root is --app-dir"),
    Entry("PYTHON_ENABLE_WORKER_EXTENSIONS", A, "devhost loads no worker extensions"),
    Entry("PYTHON_ISOLATE_WORKER_DEPENDENCIES", A, "devhost runs in the app's own virtual "
          "environment"),
    Entry("PYTHON_ENABLE_DEBUG_LOGGING", A, "devhost's debug lines come with --verbose"),
    Entry("FUNCTIONS_WORKER_SHARED_MEMORY_DATA_TRANSFER_ENABLED", A, "devhost passes data "
          "in-process"),
    Entry("WEBSITE_TIME_ZONE", A, "no timer triggers in devhost"),
    Entry("WEBSITE_RUN_FROM_PACKAGE", A, "devhost runs the folder as it is; Azure mounts "
          "the package"),
    Entry("WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", A, "devhost runs the local folder"),
    Entry("WEBSITE_CONTENTSHARE", A, "devhost runs the local folder"),
    Entry("WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", A, "devhost is one instance"),
    Entry("SCM_DO_BUILD_DURING_DEPLOYMENT", A, "deployment setting; no effect locally"),
    Entry("ENABLE_ORYX_BUILD", A, "deployment setting; no effect locally"),
)
# fmt: on


def entry_for(path: str, table: tuple[Entry, ...] = HOST_JSON) -> Entry | None:
    """The most specific entry covering a dotted path (ignoring case)."""
    lowered = path.lower()
    best: Entry | None = None
    for e in table:
        key = e.path.lower()
        if (lowered == key or lowered.startswith(key + ".")) and (
            best is None or len(key) > len(best.path)
        ):
            best = e
    if best is not None and table is HOST_JSON:
        for section in CLOSED:
            inside = lowered.startswith(section.lower() + ".")
            if inside and len(section) > len(best.path):
                return None  # an unknown key in a section devhost lists in full
    return best


def app_setting_entry(name: str) -> Entry | None:
    for e in APP_SETTINGS:
        if name == e.path or (e.path.endswith("__") and name.lower().startswith(e.path.lower())):
            return e
    return None


# Values that are objects of free-form keys: the key names are data, not settings.
FREE_FORM = ("logging.logLevel", "extensions.http.customHeaders")


def leaves(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every set key of a host.json document as (dotted path, value)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path.lower() not in _free_form():
            yield from leaves(value, path + ".")  # an empty section sets nothing
        else:
            yield path, value


def _free_form() -> set[str]:
    return {p.lower() for p in FREE_FORM}


@dataclass
class Review:
    """What start-up says about the app's settings: one line per announced entry, and the
    refusals (the first one stops the start)."""

    announcements: list[str]
    refusals: list[str]


def _known_leaf_names() -> dict[str, str]:
    return {e.path.rsplit(".", 1)[-1].lower(): e.path for e in HOST_JSON if "." in e.path}


def review(host_json: Mapping[str, Any], settings: Mapping[str, str]) -> Review:
    """Walk the (overlaid) host.json and the app settings against the tables."""
    grouped: dict[str, list[str]] = {}
    entries: dict[str, Entry] = {}
    unknown: list[str] = []
    refusals: list[str] = []
    for path, value in leaves(host_json):
        found = entry_for(path)
        if found is None:
            unknown.append(path)
            continue
        if found.verdict is Verdict.HONOURED or (found.accepts and found.accepts(value)):
            continue
        if found.verdict is Verdict.REFUSED:
            refusals.append(f"host.json {path} = {value!r}: {found.note}")
            continue
        entries[found.path] = found
        rest = path[len(found.path) + 1 :]
        grouped.setdefault(found.path, [])
        if rest:
            grouped[found.path].append(rest)
    lines = []
    for key, subkeys in grouped.items():
        shown = f"{key} ({', '.join(subkeys)})" if subkeys else key
        lines.append(f"Not as in Azure: host.json {shown}: {entries[key].note}")
    hints = _known_leaf_names()
    for path in unknown:
        hint = hints.get(path.rsplit(".", 1)[-1].lower())
        also = f" (did you mean {hint}?)" if hint and hint.lower() != path.lower() else ""
        lines.append(
            f"host.json {path} is not a setting the Functions host or its extensions read; "
            f"ignored, as Azure ignores it{also}"
        )
    for name in sorted(settings):
        found = app_setting_entry(name)
        if found is None or found.verdict is Verdict.HONOURED:
            continue
        if found.accepts and found.accepts(settings[name]):
            continue
        if found.verdict is Verdict.REFUSED:
            refusals.append(f"app setting {name} = {settings[name]!r}: {found.note}")
        else:
            lines.append(f"Not as in Azure: app setting {name}: {found.note}")
    return Review(lines, refusals)
