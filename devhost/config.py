"""host.json + local.settings.json, applied the way `func start` applies them."""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost import hostsettings
from devhost.hostsettings import DurableSettings, SettingError
from devhost.settings_catalog import review

DEFAULT_HUB = "TestHubName"  # Durable 2.x default for local runs
DEFAULT_POISON_THRESHOLD = 5
# The Functions host overlays host.json with `AzureFunctionsJobHost__<path>` settings.
HUB_OVERRIDE = "AzureFunctionsJobHost__extensions__durableTask__hubName"


class ConfigError(Exception):
    pass


@dataclass
class HostConfig:
    app_dir: Path
    host_json: dict[str, Any]
    settings: dict[str, str] = field(default_factory=dict)
    # Filled by load_config: the settings honoured, and one line per setting devhost does not.
    durable: DurableSettings | None = None
    announcements: list[str] = field(default_factory=list)

    @property
    def hub_name(self) -> str:
        durable = self.host_json.get("extensions", {}).get("durableTask", {})
        hub = self.settings.get(HUB_OVERRIDE) or str(durable.get("hubName") or DEFAULT_HUB)
        if hub.startswith("%") and hub.endswith("%"):  # app-setting reference, as in Azure
            hub = self.settings.get(hub.strip("%"), DEFAULT_HUB)
        return hub

    @property
    def poison_threshold(self) -> int:
        blobs = self.host_json.get("extensions", {}).get("blobs", {})
        return int(blobs.get("poisonBlobThreshold", DEFAULT_POISON_THRESHOLD))

    @property
    def host_id(self) -> str:
        """Receipts and the blob-trigger queue are per host id (see `default_host_id`)."""
        explicit = self.settings.get("AzureFunctionsWebHost__hostid")
        if explicit:
            return explicit
        return default_host_id(socket.gethostname(), str(self.app_dir))


MAX_HOST_ID = 32  # ScriptConstants.MaximumHostIdLength


def stable_hash(value: str) -> int:
    """Utility.GetStableHash: hash = hash * 31 + char over UTF-16 code units, as an int32."""
    data = value.encode("utf-16-le")
    h = 23
    for i in range(0, len(data), 2):
        h = (h * 31 + int.from_bytes(data[i : i + 2], "little")) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def default_host_id(machine_name: str, script_path: str) -> str:
    """The id `func start` uses locally (ScriptHostIdProvider.GetDefaultHostId): sanitized
    machine name + '-' + |stable hash of the script root|, at most 32 characters, lowercase,
    no trailing '-'. Two apps on one machine get different ids, so they never share a
    blob-trigger queue or receipts."""
    machine = "".join(c for c in machine_name if c.isalnum())
    host_id = f"{machine}-{abs(stable_hash(script_path))}"[:MAX_HOST_ID]
    return host_id.lower().rstrip("-")


# AzureStorageOptions.ValidateHubName (Durable extension): the hub name must be a valid blob,
# container (lower-cased), table and queue (lower-cased) name, and at most 50 characters; the
# table rule is the binding one: a letter, then letters and digits, 3-63 in all.
_HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
MAX_HUB_NAME = 50


def validate_hub_name(hub: str) -> None:
    """Refuse a task hub name the Durable extension refuses, with its message, at start
    (AzureStorageDurabilityProviderFactory.EnsureInitialized) instead of a storage error later."""
    if not _HUB_NAME.fullmatch(hub) or len(hub) > MAX_HUB_NAME:
        raise ConfigError(
            f"Task hub name '{hub}' should contain only alphanumeric characters, start with a "
            "letter, and have length between 3 and 45 (host.json extensions.durableTask.hubName"
            f" or {HUB_OVERRIDE})"
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise ConfigError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} must hold a JSON object")
    return data


def read_local_settings(app_dir: Path) -> dict[str, str]:
    """The environment with local.settings.json Values under it (existing variables win), for
    tools that need a setting but not the whole host configuration."""
    settings_path = app_dir / "local.settings.json"
    values = _read_json(settings_path).get("Values", {}) if settings_path.exists() else {}
    return {str(k): str(v) for k, v in (values or {}).items()} | dict(os.environ)


def load_config(app_dir: Path, storage_connection_string: str | None = None) -> HostConfig:
    """Read host.json; put local.settings.json Values into os.environ (existing variables
    win, as with `func start`); an explicit storage connection overrides AzureWebJobsStorage."""
    host_path = app_dir / "host.json"
    if not host_path.exists():
        raise ConfigError(f"no host.json in {app_dir}: not a Functions app root")
    host_json = _read_json(host_path)
    if str(host_json.get("version", "")) != "2.0":
        raise ConfigError('host.json must declare "version": "2.0"')
    settings_path = app_dir / "local.settings.json"
    if settings_path.exists():
        values = _read_json(settings_path).get("Values", {}) or {}
        if not isinstance(values, dict):
            raise ConfigError('local.settings.json: "Values" must be a JSON object')
        for key, value in values.items():
            os.environ.setdefault(str(key), str(value))
    if storage_connection_string:
        os.environ["AzureWebJobsStorage"] = storage_connection_string
    settings = dict(os.environ)
    host_json = hostsettings.overlay(host_json, settings)
    found = review(host_json, settings)
    if found.refusals:
        raise ConfigError(found.refusals[0])
    config = HostConfig(app_dir=app_dir, host_json=host_json, settings=settings)
    validate_hub_name(config.hub_name)
    check_slot(config.hub_name, settings)
    try:
        config.durable = hostsettings.durable_settings(host_json)
        hostsettings.blob_parallelism(host_json)
        hostsettings.function_allow_list(host_json)
        hostsettings.log_levels(host_json)
    except SettingError as exc:
        raise ConfigError(str(exc)) from exc
    config.announcements = found.announcements
    return config


def check_slot(hub: str, settings: dict[str, str]) -> None:
    """DurableTaskOptions.Validate: in a deployment slot other than Production the default
    task hub name is refused (two slots would share one hub)."""
    slot = settings.get("WEBSITE_SLOT_NAME")
    if slot and slot.lower() != "production" and hub.lower() == DEFAULT_HUB.lower():
        raise ConfigError(
            "Task Hub name must be specified in host.json when using slots. Specified name "
            f"must not equal the default HubName ({DEFAULT_HUB})."
        )
