"""Where the app lives: its Durable HTTP API, its storage account and (optionally) its database.

Local runs read local.settings.json like devhost (environment variables win); `--url` switches
to a deployed app, and then nothing is read from local.settings.json: a local Azurite or SQLite
file must never be compared with a deployed app's instances. Secrets (the system key, storage
and SQL connection strings) come from the environment or a file, never from argv.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

KEY_ENV = "DURABLETASK_KEY"
STORAGE_KEY_ENV = "AZURE_STORAGE_KEY"
STORAGE_CS_ENV = "AZURE_STORAGE_CONNECTION_STRING"
WEBHOOK_PATH = "/runtime/webhooks/durabletask"
MAX_KEY_FILE = 4096


class ConfigError(Exception):
    """Bad or missing configuration: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Storage:
    """A connection string, or an account URL with a shared key or the signed-in identity."""

    connection_string: str | None = field(default=None, repr=False)
    account_url: str | None = None
    account_key: str | None = field(default=None, repr=False)

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None and self.account_key is None


@dataclass(frozen=True)
class Target:
    api_url: str  # the Durable HTTP API root, ending in /runtime/webhooks/durabletask
    storage: Storage
    key: str | None = field(default=None, repr=False)
    sql: str | None = field(default=None, repr=False)
    deployed: bool = False


def _local_settings(cwd: Path) -> dict[str, str]:
    path = cwd / "local.settings.json"
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values", {})
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    return {str(k): str(v) for k, v in values.items() if isinstance(v, str)}


def api_root(url: str) -> str:
    """The API root for an app URL (or for the webhook URL itself)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--url must be an http(s) URL, not {url[:80]!r}")
    if parts.query or parts.username or parts.password:
        raise ConfigError("--url must not carry a query or credentials: put the key in a file")
    path = parts.path.rstrip("/")
    if not path.endswith(WEBHOOK_PATH):
        path += WEBHOOK_PATH
    return f"{parts.scheme}://{parts.netloc}{path}"


def read_key(env: Mapping[str, str], key_file: str | None) -> str | None:
    if key_file:
        path = Path(key_file)
        try:
            if path.stat().st_size > MAX_KEY_FILE:
                raise ConfigError(f"key file {key_file} is larger than {MAX_KEY_FILE} bytes")
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {key_file}: {exc.strerror}") from exc
        if not key or any(c.isspace() for c in key):
            raise ConfigError(f"key file {key_file} must hold the key alone on one line")
        return key
    return env.get(KEY_ENV) or None


def resolve(
    *,
    url: str | None,
    key_file: str | None,
    account_url: str | None,
    use_sql: bool,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Target:
    env = os.environ if env is None else env
    key = read_key(env, key_file)
    sql = env.get("SqlConnectionString") if use_sql else None
    if url is None:  # local: devhost and local.settings.json
        settings = _local_settings(cwd or Path.cwd())
        port = env.get("DEVHOST_PORT", "7071")
        if not port.isdigit():
            raise ConfigError(f"DEVHOST_PORT must be a port number, not {port[:20]!r}")
        connection = env.get("AzureWebJobsStorage") or settings.get("AzureWebJobsStorage")
        if account_url is None and not connection:
            raise ConfigError(
                "no AzureWebJobsStorage in the environment or local.settings.json "
                "(run from the app's folder, or pass --url for a deployed app)"
            )
        if use_sql:
            sql = sql or settings.get("SqlConnectionString") or None
        storage = _storage(env, account_url, connection if account_url is None else None)
        return Target(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", storage, key, sql)
    root = api_root(url)
    connection = env.get(STORAGE_CS_ENV)
    if account_url is None and not connection:
        raise ConfigError(
            "a deployed app needs its storage account: --account-url "
            f"https://<account>.blob.core.windows.net (signed-in identity or {STORAGE_KEY_ENV}) "
            f"or {STORAGE_CS_ENV} in the environment"
        )
    storage = _storage(env, account_url, connection if account_url is None else None)
    return Target(root, storage, key, sql, deployed=True)


def _storage(env: Mapping[str, str], account_url: str | None, connection: str | None) -> Storage:
    if account_url is None:
        return Storage(connection_string=connection)
    parts = urlsplit(account_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigError(
            "--account-url must look like https://<account>.blob.core.windows.net (no SAS)"
        )
    return Storage(account_url=account_url.rstrip("/"), account_key=env.get(STORAGE_KEY_ENV))


@dataclass(frozen=True)
class Window:
    prefix: str = ""
    since: datetime | None = None  # Last-Modified >= since
    until: datetime | None = None  # Last-Modified < until

    def contains(self, last_modified: datetime | None) -> bool:
        if last_modified is None:
            return self.since is None and self.until is None
        if self.since is not None and last_modified < self.since:
            return False
        return self.until is None or last_modified < self.until


class Mode(Enum):
    MISSING = "missing"
    ALL = "all"
    FAILED = "failed"


@dataclass(frozen=True)
class Options:
    mode: Mode = Mode.MISSING
    dry_run: bool = False
    max_in_flight: int = 32
    poll_first: float = 0.5  # seconds before the first status read of a started instance
    poll_max: float = 2.0


def parse_time(text: str, option: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC (blob times are UTC)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{option} {text[:40]!r} is not an ISO 8601 date or time (2026-11-25T10:00:00Z)"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
