"""Every host.json key is honoured, announced or refused (issue 19, "every setting honoured or
refused"), and the honoured ones are read and validated as the real options classes do.

The schema is the JSON Schema Store's host.json (https://json.schemastore.org/host.json), copied
from SchemaStore/schemastore src/schemas/json/host.json at commit 3b6446ad (Apache-2.0) into
tests/devhost/schemas/host.schema.json. The walk follows $ref, properties and oneOf/anyOf/allOf of
the version-2 document (devhost refuses a version-1 host.json at load).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost import hostsettings
from devhost.config import ConfigError, load_config
from devhost.hostsettings import SettingError, durable_settings, overlay
from devhost.settings_catalog import (
    APP_SETTINGS,
    HOST_JSON,
    Verdict,
    entry_for,
    review,
)
from devhost.timeouts import function_timeouts
from devhost.timespan import TimeSpanError, parse_timespan

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "host.schema.json").read_text())


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def schema_keys(node: Any, prefix: str = "", depth: int = 0) -> Iterator[str]:
    """Every property path the schema declares (sections and leaves)."""
    node = _resolve(node)
    if not isinstance(node, dict) or depth > 20:
        return
    for key, child in (node.get("properties") or {}).items():
        path = f"{prefix}{key}"
        yield path
        yield from schema_keys(child, path + ".", depth + 1)
    for combinator in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(combinator) or []:
            yield from schema_keys(sub, prefix, depth + 1)
    for branch in ("then", "else"):
        if branch in node:
            yield from schema_keys(node[branch], prefix, depth + 1)


ALL_KEYS = sorted(set(schema_keys(SCHEMA["definitions"]["version-2"])))
# The settings themselves: a section (a key with keys under it) is covered through its keys.
LEAVES = [k for k in ALL_KEYS if not any(o.startswith(k + ".") for o in ALL_KEYS)]


def test_the_walk_reaches_the_whole_schema() -> None:
    # The walk itself can fail: these are deep keys of four different extension sections.
    assert len(ALL_KEYS) > 200
    for deep in (
        "extensions.durableTask.storageProvider.partitionCount",
        "extensions.http.hsts.maxAge",
        "logging.applicationInsights.snapshotConfiguration.uploaderProxy",
        "extensions.serviceBus.sessionHandlerOptions.maxConcurrentSessions",
    ):
        assert deep in ALL_KEYS


def test_every_schema_key_is_honoured_announced_or_refused() -> None:
    assert len(LEAVES) > 180
    uncovered = [k for k in LEAVES if entry_for(k) is None]
    assert uncovered == [], f"schema keys neither honoured nor announced: {uncovered}"


def test_every_entry_says_why() -> None:
    for entry in (*HOST_JSON, *APP_SETTINGS):
        assert entry.note.strip(), entry.path
    honoured = [e for e in HOST_JSON if e.verdict is Verdict.HONOURED]
    announced = [e for e in HOST_JSON if e.verdict is not Verdict.HONOURED]
    assert honoured and announced


def test_the_apps_host_json_gets_one_line_per_setting_devhost_does_not_honour() -> None:
    host_json = json.loads((ROOT / "host.json").read_text())
    lines = review(host_json, {"FUNCTIONS_WORKER_RUNTIME": "python"}).announcements
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "Not as in Azure: host.json logging.applicationInsights (samplingSettings.isEnabled, "
        "samplingSettings.excludedTypes): "
    )
    assert lines[1].startswith("Not as in Azure: host.json extensionBundle (id, version): ")


def test_settings_not_set_and_honoured_ones_say_nothing() -> None:
    host_json = {
        "version": "2.0",
        "functionTimeout": "00:05:00",
        "logging": {"logLevel": {"default": "Warning", "Function.X": "Debug"}},
        "extensions": {
            "durableTask": {
                "hubName": "Hub1",
                "maxConcurrentActivityFunctions": 3,
                "extendedSessionsEnabled": False,
                "storageProvider": {"partitionCount": 2, "type": "AzureStorage"},
            },
            "http": {"routePrefix": ""},
        },
    }
    assert review(host_json, {"PYTHON_THREADPOOL_THREAD_COUNT": "4"}).announcements == []


def test_extended_sessions_are_announced_with_the_extensions_warning() -> None:
    # DurableTaskOptions.Validate: non-.NET apps get the warning and the value set to false.
    lines = review({"extensions": {"durableTask": {"extendedSessionsEnabled": True}}}, {})
    assert lines.announcements == [
        "Not as in Azure: host.json extensions.durableTask.extendedSessionsEnabled: Durable "
        "Functions does not work with extendedSessions = true for non-.NET languages; Azure sets "
        "it to false (DurableTaskOptions.Validate), as devhost does"
    ]


def test_an_unknown_key_is_named_with_the_key_it_probably_meant() -> None:
    # Durable 1.x put partitionCount directly under durableTask; 2.x's options binder ignores it.
    lines = review({"extensions": {"durableTask": {"partitionCount": 8}}}, {}).announcements
    assert lines == [
        "host.json extensions.durableTask.partitionCount is not a setting the Functions host or "
        "its extensions read; ignored, as Azure ignores it (did you mean "
        "extensions.durableTask.storageProvider.partitionCount?)"
    ]


@pytest.mark.parametrize(
    ("host_json", "settings", "words"),
    [
        ({"customHandler": {"description": {"defaultExecutablePath": "app"}}}, {}, "customHandler"),
        ({"extensions": {"durableTask": {"storageProvider": {"type": "mssql"}}}}, {}, "type"),
        ({}, {"FUNCTIONS_WORKER_RUNTIME": "node"}, "FUNCTIONS_WORKER_RUNTIME"),
    ],
)
def test_refused_settings_stop_the_start(
    host_json: dict[str, Any], settings: dict[str, str], words: str
) -> None:
    refusals = review(host_json, settings).refusals
    assert len(refusals) == 1 and words in refusals[0]


def test_an_app_setting_overrides_host_json_ignoring_case() -> None:
    # HostJsonFileConfigurationSource.cs loads host.json under AzureFunctionsJobHost; the
    # environment source after it replaces a key, compared ignoring case.
    host_json = {"extensions": {"durableTask": {"storageProvider": {"partitionCount": 4}}}}
    name = "AzureFunctionsJobHost__extensions__DURABLETASK__storageProvider__PartitionCount"
    merged = overlay(host_json, {name: "2"})
    assert durable_settings(merged).partitions == 2
    assert merged["extensions"]["durableTask"]["storageProvider"] == {"partitionCount": "2"}


SP = "storageProvider."
PARTITIONS_1_16 = "PartitionCount must be an integer value between 1 and 16."


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # AzureStorageOptions.Validate
        (SP + "partitionCount", 0, PARTITIONS_1_16),
        (SP + "partitionCount", 17, PARTITIONS_1_16),
        (SP + "controlQueueBatchSize", 0, "ControlQueueBatchSize must be a non-negative integer."),
        (SP + "maxQueuePollingInterval", "00:00:00",
         "MaxQueuePollingInterval must be non-negative."),
        (SP + "controlQueueVisibilityTimeout", "00:00:30",
         "ControlQueueVisibilityTimeout must be between 1 and 60 minutes."),
        (SP + "controlQueueBufferThreshold", 1001,
         "ControlQueueBufferThreshold must be between 1 and 1000."),
        # AzureStorageOrchestrationService's constructor
        (SP + "controlQueueBatchSize", 33, "The control queue batch size must not exceed 32."),
        # DurableTaskOptions.Validate
        ("maxConcurrentActivityFunctions", 0,
         "MaxConcurrentActivityFunctions must be a positive integer value."),
        ("maxConcurrentOrchestratorFunctions", -1,
         "MaxConcurrentOrchestratorFunctions must be a positive integer value."),
    ],
)  # fmt: skip
def test_invalid_durable_values_get_the_extensions_message(
    path: str, value: Any, message: str
) -> None:
    node: dict[str, Any] = {}
    durable: dict[str, Any] = {"extensions": {"durableTask": node}}
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    with pytest.raises(SettingError) as caught:
        durable_settings(durable)
    assert str(caught.value) == message


def test_durable_defaults_are_the_provider_factorys() -> None:
    # AzureStorageDurabilityProviderFactory: 10 x processors outside Consumption;
    # AzureStorageOptions: 4 partitions, batches of 32.
    found = durable_settings({})
    cpus = os.cpu_count() or 1
    assert (found.max_activities, found.max_orchestrations) == (10 * cpus, 10 * cpus)
    assert (found.partitions, found.control_batch, found.max_poll_interval) == (4, 32, None)
    assert hostsettings.blob_parallelism({}) == 8 * cpus  # BlobsOptions' constructor
    set_ = {"extensions": {"durableTask": {"storageProvider": {
        "maxQueuePollingInterval": "00:00:05", "controlQueueBatchSize": "8",
        "controlQueueVisibilityTimeout": "00:02:00"}}}}  # fmt: skip
    found = durable_settings(set_)
    assert (found.max_poll_interval, found.control_batch, found.control_visibility) == (5, 8, 120)


def test_blob_parallelism_must_be_positive() -> None:
    # BlobsOptions.MaxDegreeOfParallelism's setter throws for value <= 0.
    with pytest.raises(SettingError, match="greater than 0"):
        hostsettings.blob_parallelism({"extensions": {"blobs": {"maxDegreeOfParallelism": 0}}})
    three = {"extensions": {"blobs": {"maxDegreeOfParallelism": "3"}}}  # from an app setting
    assert hostsettings.blob_parallelism(three) == 3


def test_timespans_parse_as_dotnet_timespan() -> None:
    parse = hostsettings.parse_timespan
    assert parse("p", "00:00:30") == 30
    assert parse("p", "1.02:00:00") == 86400 + 7200
    assert parse("p", "00:00:01.5") == 1.5
    assert parse("p", "2") == 2 * 86400  # TimeSpan.Parse("2") is two days
    with pytest.raises(SettingError):
        parse("p", "00:61:00")


@pytest.mark.parametrize(
    "text",
    ["00:00:30", "1.02:00:00", "2", "-1", "00:00:01.1234567", "00:00:01.12345678", "24:00:00"],
)
def test_host_json_spans_and_function_timeout_read_text_alike(text: str) -> None:
    """Every host.json time span is bound by TimeSpan.Parse (dotnet/runtime TimeSpanParse.cs):
    one parser (devhost/timespan.py) below both readers, so they accept and refuse alike."""
    try:
        expected: float | None = parse_timespan(text)
    except TimeSpanError:
        expected = None
    try:
        host_json: float | None = hostsettings.parse_timespan("p", text)
    except SettingError:
        host_json = None
    try:
        timeout: float | None = function_timeouts({"functionTimeout": text}, {}).limit
    except ConfigError:
        timeout = None
    assert host_json == expected
    if expected is not None and expected >= 1:  # functionTimeout's own floor is 1 s
        assert timeout == expected
    if expected is None:
        assert timeout is None


def _app(tmp_path: Path, host_json: dict[str, Any], values: dict[str, str]) -> Path:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", **host_json}))
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": values}))
    return tmp_path


def test_load_config_refuses_in_one_line_and_keeps_the_announcements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "environ", {})
    bad = {"extensions": {"durableTask": {"storageProvider": {"partitionCount": 17}}}}
    with pytest.raises(ConfigError) as caught:
        load_config(_app(tmp_path, bad, {}))
    assert str(caught.value) == PARTITIONS_1_16
    ok = _app(
        tmp_path, {"healthMonitor": {"enabled": False}}, {"APPINSIGHTS_INSTRUMENTATIONKEY": "x"}
    )
    config = load_config(ok)
    assert [line.split(":")[1].strip() for line in config.announcements] == [
        "host.json healthMonitor (enabled)",
        "app setting APPINSIGHTS_INSTRUMENTATIONKEY",
    ]


def test_a_deployment_slot_refuses_the_default_hub_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DurableTaskOptions.Validate (IsInNonProductionSlot && IsDefaultHubName)
    monkeypatch.setattr(os, "environ", {})
    app = _app(tmp_path, {}, {"WEBSITE_SLOT_NAME": "staging"})
    with pytest.raises(ConfigError) as caught:
        load_config(app)
    assert str(caught.value).startswith("Task Hub name must be specified in host.json when using")


def test_the_docs_table_is_the_catalog() -> None:
    text = (ROOT / "docs" / "devhost.md").read_text()
    for entry in (*HOST_JSON, *APP_SETTINGS):
        row = f"| `{entry.path}` | {entry.verdict.value} | {entry.note.replace('|', '/')} |"
        assert row in text, f"docs/devhost.md lacks or differs on {entry.path}"

    def count(table: tuple[Any, ...], verdict: Verdict) -> int:
        return sum(e.verdict is verdict for e in table)

    counts = [count(t, v) for t in (HOST_JSON, APP_SETTINGS) for v in Verdict]
    leaves = [sum(entry_for(k).verdict is v for k in LEAVES) for v in Verdict]  # type: ignore[union-attr]
    line = (
        "Entries: host.json {} honoured, {} announced, {} refused; app settings {} honoured, {} "
        "announced,\n{} refused. Schema keys ({} leaves): {} honoured, {} announced, {} refused."
    ).format(*counts, len(LEAVES), *leaves)
    assert line in text
