"""Which containers to watch: blobTrigger bindings resolved against the app settings, and the
storage clients each account gives them (one trigger queue and one poison queue per account)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue.aio import QueueClient

from devhost.blobtrigger.paths import BlobPath, parse_blob_path
from devhost.blobtrigger.receipts import ReceiptStore
from devhost.blobtrigger.skips import SkipLog
from devhost.contracts import BlobTriggerTarget
from devhost.queuepump import BackoffPoller

POISON_QUEUE = "webjobs-blobtrigger-poison"


def host_queue_name(host_id: str) -> str:
    """The host's own work queue: two apps on one account never share it."""
    return f"azure-webjobs-blobtrigger-{host_id}"


def account_name(connection_string: str) -> str:
    """AccountName of a connection string (scan cursors are kept per account)."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return "devstoreaccount1"
    name = parts.get("AccountName")
    if not name:
        raise ValueError("the storage connection string has no AccountName")
    return name


def target_from_binding(
    function_name: str, binding: Mapping[str, Any], settings: Mapping[str, str]
) -> BlobTriggerTarget:
    """Resolve a blobTrigger binding against the app settings; ValueError says what is wrong."""
    path = parse_blob_path(str(binding.get("path", "")))
    connection = str(binding.get("connection") or "AzureWebJobsStorage")
    value = settings.get(connection)
    if not value:
        if any(k.startswith(connection + "__") for k in settings):
            raise ValueError(
                f"function '{function_name}': identity-based connection '{connection}__*' "
                f"is not supported locally; set '{connection}' to a connection string"
            )
        raise ValueError(
            f"function '{function_name}': the connection setting '{connection}' is not set"
        )
    return BlobTriggerTarget(
        function_name=function_name,
        function_id=f"Host.Functions.{function_name}",
        connection_string=value,
        account_name=account_name(value),
        container=path.container,
        blob_pattern=path.pattern,
    )


@dataclass
class AccountClients:
    """One storage account's clients and work queue state, shared by scanner and executor."""

    service: BlobServiceClient
    queue: QueueClient
    poison: QueueClient
    receipts: ReceiptStore
    poller: BackoffPoller  # the trigger queue's pace; the scanner wakes it after enqueuing
    skips: SkipLog  # what the trigger skipped and why (devhost's own record, see skips.py)


@dataclass(frozen=True)
class WatchedContainer:
    """A target bound to its account's clients and its compiled name pattern."""

    target: BlobTriggerTarget
    path: BlobPath
    container: ContainerClient
    account: AccountClients
