"""host.json + local.settings.json, applied the way `func start` applies them."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_HUB = "TestHubName"  # Durable 2.x default for local runs
DEFAULT_POISON_THRESHOLD = 5


class ConfigError(Exception):
    pass


@dataclass
class HostConfig:
    app_dir: Path
    host_json: dict[str, Any]
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def hub_name(self) -> str:
        durable = self.host_json.get("extensions", {}).get("durableTask", {})
        hub = str(durable.get("hubName") or DEFAULT_HUB)
        if hub.startswith("%") and hub.endswith("%"):  # app-setting reference, as in Azure
            hub = self.settings.get(hub.strip("%"), DEFAULT_HUB)
        return hub

    @property
    def poison_threshold(self) -> int:
        blobs = self.host_json.get("extensions", {}).get("blobs", {})
        return int(blobs.get("poisonBlobThreshold", DEFAULT_POISON_THRESHOLD))

    @property
    def host_id(self) -> str:
        """Receipts are per host id; the real host derives it from the machine name."""
        explicit = self.settings.get("AzureFunctionsWebHost__hostid")
        if explicit:
            return explicit
        name = "".join(c for c in socket.gethostname().lower() if c.isalnum() or c == "-")
        return (name or "devhost")[:32].strip("-") or "devhost"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise ConfigError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} must hold a JSON object")
    return data


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
        for key, value in values.items():
            os.environ.setdefault(str(key), str(value))
    if storage_connection_string:
        os.environ["AzureWebJobsStorage"] = storage_connection_string
    return HostConfig(app_dir=app_dir, host_json=host_json, settings=dict(os.environ))
